metadata description = '''
Read access for the app's identity to the gateway's usage data, in whatever resource group (and subscription)
the gateway's monitoring lives. Deploy this module at that resource group's scope.
'''

@description('Resource id of the gateway\'s Application Insights component or of its Log Analytics workspace.')
param usageSourceResourceId string

param identityPrincipalId string

var isWorkspace = contains(toLower(usageSourceResourceId), '/providers/microsoft.operationalinsights/workspaces/')
var sourceName = last(split(usageSourceResourceId, '/'))

// Log Analytics Reader (73c42c96-...): */read plus workspaces/analytics/query/action and search/action, i.e. it can
// run KQL against every table of the workspace (workspace-context queries, LogsQueryClient.queryWorkspace).
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'
// Monitoring Reader (43d0d8ad-...): */read, which includes Microsoft.Insights/logs/*/read on the component, the
// permission a resource-context query (LogsQueryClient.queryResource on the App Insights resource id) checks.
// Such a query only reaches the data when the component's workspace allows resource permissions
// (access control mode "Use resource or workspace permissions"; workspaces created since 2019 do).
var monitoringReader = '43d0d8ad-25c7-4714-9337-8ba259a9fe05'

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = if (isWorkspace) {
  name: sourceName
}

resource component 'Microsoft.Insights/components@2020-02-02' existing = if (!isWorkspace) {
  name: sourceName
}

resource workspaceReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isWorkspace) {
  name: guid(usageSourceResourceId, identityPrincipalId, logAnalyticsReader)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource componentReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!isWorkspace) {
  name: guid(usageSourceResourceId, identityPrincipalId, monitoringReader)
  scope: component
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringReader)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

@description('The workspace id (a GUID, the "customerId") the Logs API addresses a workspace by; empty for a component.')
output workspaceCustomerId string = isWorkspace ? workspace.properties.customerId : ''
output isWorkspace bool = isWorkspace
