metadata description = 'Data-plane roles for the app\'s identity (and optionally the deploying user) in the app\'s own resource group.'

param storageAccountName string
param applicationInsightsName string
param identityPrincipalId string

@description('Object id of a person to grant the same storage data roles, for looking at tables and running the CLI against Azure. Empty: none.')
param userPrincipalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
param userPrincipalType string = 'User'

// Built-in role definition ids (the same in every tenant).
var role = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

// Blob Data Owner: the host keeps timer schedule status and singleton locks in blobs and creates its
// containers; the platform reads the deployment package with this identity.
// Table Data Contributor: the chargeback tables (rollups, closes, deliveries, directory cache, mail slots, ...)
// and the host's diagnostic events.
// Queue Data Contributor: the close's work queues (docs/fan-out.md): the app sends work items, the queue
// triggers read, update and delete them, and the host creates the <queue>-poison queues and writes to them.
// It is the one built-in role that covers all of that (Message Processor cannot send or create a queue).
var storageRoles = [
  role.storageBlobDataOwner
  role.storageTableDataContributor
  role.storageQueueDataContributor
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: {
    name: guid(storage.id, identityPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource userStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for roleId in storageRoles: if (!empty(userPrincipalId)) {
    name: guid(storage.id, userPrincipalId, roleId)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
      principalId: userPrincipalId
      principalType: userPrincipalType
    }
  }
]

// App Insights has local auth disabled: sending telemetry needs this role.
resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, role.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
