metadata description = 'Where Cost Management delivers the FOCUS export the monthly close trues the chargeback up to, and who may touch it.'

param storageAccountName string

@description('Container the export writes to (3-63 lowercase letters, digits, dashes).')
param containerName string

@description('Object id of the Function App\'s managed identity: it only reads the export.')
param appPrincipalId string

@description('Object id of the export\'s system-assigned identity, which writes the files (the account allows no shared keys). Empty: no export is deployed.')
param exportPrincipalId string = ''

var role = {
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobServices 'blobServices' existing = {
    name: 'default'
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: storage::blobServices
  name: containerName
  properties: { publicAccess: 'None' }
}

// Reader on the container itself: the app needs nothing more of the bill, and keeps it should its account-wide
// Blob Data Owner (needed by the Functions host) ever be narrowed.
resource appReadsExport 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, appPrincipalId, role.storageBlobDataReader)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource exportWritesExport 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(exportPrincipalId)) {
  name: guid(container.id, exportPrincipalId, role.storageBlobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataContributor)
    principalId: exportPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output containerName string = container.name
output containerUrl string = '${storage.properties.primaryEndpoints.blob}${container.name}'
