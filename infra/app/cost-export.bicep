targetScope = 'subscription'

metadata description = '''
A Cost Management export of this subscription's "Cost and usage details (FOCUS)", month to date, every day, as
gzip CSV into the chargeback storage account. Each run rewrites the month so far, so the close always reads the
newest run. Exports at a billing account or billing profile scope (MCA/EA) cannot be deployed from a subscription
deployment: create those in the portal with the same settings (docs/billing.md).
'''

param name string
param location string
param storageAccountId string
param containerName string
param rootFolderPath string

@description('First day the schedule runs, yyyy-MM-ddT00:00:00Z; the export runs daily until ten years later.')
param scheduleStart string

resource costExport 'Microsoft.CostManagement/exports@2025-03-01' = {
  name: name
  // The export writes with its own identity, since the storage account allows no shared keys.
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    exportDescription: 'FOCUS cost details for the Claude chargeback true-up'
    schedule: {
      status: 'Active'
      recurrence: 'Daily'
      recurrencePeriod: { from: scheduleStart, to: dateTimeAdd(scheduleStart, 'P10Y') }
    }
    format: 'Csv'
    compressionMode: 'gzip'
    partitionData: true
    // A new folder per run: the reader takes the newest run of the month, so a failed run never hides a good one.
    dataOverwriteBehavior: 'CreateNewReport'
    definition: {
      type: 'FocusCost'
      timeframe: 'MonthToDate'
      dataSet: {
        granularity: 'Daily'
        configuration: { dataVersion: '1.0r2' }
      }
    }
    deliveryInfo: {
      destination: {
        type: 'AzureBlob'
        resourceId: storageAccountId
        container: containerName
        rootFolderPath: rootFolderPath
      }
    }
  }
}

output principalId string = costExport.identity.principalId
