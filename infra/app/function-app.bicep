metadata description = 'The chargeback Function App on Flex Consumption: Node 22, user-assigned identity, identity-based storage.'

param name string
param location string
param tags object = {}

@description('azd deploys the code to the resource tagged azd-service-name with this value (see azure.yaml).')
param serviceName string = 'api'

param planId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string

param identityId string
param identityClientId string

@description('The product\'s own settings (shared/config/settings.ts); merged under the platform settings below.')
param appSettings object

@allowed([512, 2048, 4096])
@description('Memory per instance. The monthly workbook of a large organization is built in memory: 2048 MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(1000)
@description('Upper bound on scale-out. The jobs are a few timer runs and light HTTP lookups, so it is rarely reached; 40 is the value the plan has accepted since its preview (the lowest allowed has changed over time; check before lowering it).')
param maximumInstanceCount int = 40

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// V8's old space for the instance size (docs/scale.md): Node's default (about 1 GB on a 64-bit machine) ignores the
// instance's memory. V8 lets garbage pile up to whatever cap it has, so the cap is what bounds a worker's RSS: at
// 100,000 users the close's live heap peaks near 620 MB, and a 1,024 MB cap keeps every invocation under 1 GB of
// RSS on the 2,048 MB instance, leaving the rest to the Functions host and the buffers outside the heap.
var nodeHeapMBByInstance = {
  '512': 384
  '2048': 1024
  '4096': 3072
}
var nodeHeapMB = nodeHeapMBByInstance[string(instanceMemoryMB)]

// glibc serves a freed buffer's size from its heap once one of that size was unmapped, and the close's transient
// buffers (read chunks, export chunks, transaction bodies, zip pieces: 64 KB to 1 MB, gigabytes of them at
// 100,000 users) then left 90-130 MB of the worker's RSS in a fragmented heap. A fixed threshold keeps every
// buffer of 64 KB and more in a mapping of its own, returned when freed; each costs its page faults again, so
// the close of a 10,000-user month takes about a tenth longer. Set where memory bounds the close (the 2,048 MB
// instance and up, docs/scale.md "The Node heap on Azure"), not on the 512 MB one, whose close peaks near half
// its RSS budget. The host process reads it too: its large allocations are .NET's own heap, mapped by its GC.
var allocatorSettings = instanceMemoryMB >= 2048 ? { MALLOC_MMAP_THRESHOLD_: '65536' } : {}

// Settings the platform and the Azure SDKs read. No FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION /
// WEBSITE_NODE_DEFAULT_VERSION: on Flex Consumption the runtime comes from functionAppConfig.runtime and those
// settings are not allowed.
var platformSettings = {
  // Host storage through the identity: timers keep their schedule status and singleton locks in blobs, and the
  // host writes diagnostic events to tables.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table

  // The connection the close's queue triggers name (connection: 'WorkQueues', docs/fan-out.md): identity-based,
  // so the trigger reaches the queue service with the user-assigned identity and no account key.
  WorkQueues__queueServiceUri: storage.properties.primaryEndpoints.queue
  WorkQueues__credential: 'managedidentity'
  WorkQueues__clientId: identityClientId

  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  // App Insights has local auth disabled: telemetry is sent with the identity's Entra token.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // DefaultAzureCredential (shared/composition-root.ts) picks the user-assigned identity from this variable;
  // without it, a user-assigned-only app has no identity to sign in as.
  AZURE_CLIENT_ID: identityClientId

  // Arguments the Functions host passes to the Node.js worker process.
  languageWorkers__node__arguments: '--max-old-space-size=${nodeHeapMB}'
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: planId
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    // Platform settings win over product settings of the same name.
    properties: union(appSettings, platformSettings, allocatorSettings)
  }

  // No publishing with user names and passwords: azd deploys with your Entra sign-in.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: { allow: false }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: { allow: false }
  }
}

output name string = functionApp.name
output id string = functionApp.id
output defaultHostName string = functionApp.properties.defaultHostName
