metadata description = 'Log Analytics workspace and Application Insights for the chargeback Function App\'s own logs (not the gateway\'s).'

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@description('Days the workspace keeps the app\'s logs; 30 is included in the Log Analytics price.')
param retentionInDays int = 30

@description('Cap on ingestion per day (GB) so a logging loop cannot run up a bill; -1 for no cap.')
param dailyQuotaGb int = 1

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
    workspaceCapping: { dailyQuotaGb: dailyQuotaGb }
    features: { enableLogAccessUsingOnlyResourcePermissions: true }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    // Telemetry is accepted only with an Entra token (the app's identity holds Monitoring Metrics Publisher),
    // so the connection string in the app settings is not a write credential.
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = workspace.id
