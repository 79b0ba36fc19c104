metadata description = 'Where the monthly close keeps its workbooks and FOCUS export, and the app identity\'s right to write them and hand out links to them.'

param storageAccountName string

@description('Container for the workbooks and exports (3-63 lowercase letters, digits, dashes).')
param containerName string = 'artifacts'

@description('Object id of the Function App\'s managed identity.')
param appPrincipalId string

var role = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource blobServices 'blobServices' existing = {
    name: 'default'
  }
}

// Private: the mails' links are user delegation SAS URLs that expire; nothing is ever public.
resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: storage::blobServices
  name: containerName
  properties: { publicAccess: 'None' }
}

// Writes the artifacts, and reads them, which a user delegation SAS needs of its signer to grant read.
resource appWritesArtifacts 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, appPrincipalId, role.storageBlobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Get User Delegation Key is an account-level action: the Delegator role cannot be scoped to a container.
resource appSignsLinks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appPrincipalId, role.storageBlobDelegator)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.storageBlobDelegator)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output containerName string = container.name
output containerUrl string = '${storage.properties.primaryEndpoints.blob}${container.name}'
