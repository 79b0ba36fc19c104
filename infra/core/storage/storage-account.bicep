metadata description = 'Storage for the Functions host (AzureWebJobsStorage), the deployment package, the chargeback tables and the close\'s work queues.'

param name string
param location string
param tags object = {}

@description('Blob container that holds the deployment package of the Flex Consumption app.')
param deploymentContainerName string

@description('''
False (the default) turns off account keys: every caller must use Entra ID (the app's managed identity, or
you with a data role). That is why no connection string is put in the app settings. Set true only for a
code version that cannot yet reach its tables through STORAGE_TABLE_ENDPOINT.
''')
param allowSharedKeyAccess bool = false

@description('Queues a close fans its work items out on (docs/fan-out.md). Their <name>-poison queues are created by the Functions host with the first poisoned message.')
param queueNames array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: allowSharedKeyAccess
    // With shared keys off, the portal must use your Entra sign-in to show blobs and tables.
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobServices 'blobServices' = {
    name: 'default'

    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: { publicAccess: 'None' }
    }
  }

  // The chargeback tables themselves are created by the app on first use (TableClient.createTable), so a new
  // table never needs an infrastructure change.
  resource tableServices 'tableServices' = {
    name: 'default'
  }

  resource queueServices 'queueServices' = {
    name: 'default'

    resource queues 'queues' = [
      for queueName in queueNames: {
        name: queueName
      }
    ]
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output tableEndpoint string = storage.properties.primaryEndpoints.table
output queueEndpoint string = storage.properties.primaryEndpoints.queue
