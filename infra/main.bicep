targetScope = 'subscription'

metadata description = '''
The chargeback pipeline for the Claude Code LLM gateway: a Flex Consumption Function App (Node 22) that reads the
gateway's token metrics, keeps rollups in Table Storage and mails workbooks through Microsoft Graph. Deployed by
`azd up` (azure.yaml). What Bicep cannot do (Graph app roles, Exchange mailbox scoping, the API's app
registration) is in infra/README.md.
'''

// ---------------------------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('azd environment name (AZURE_ENV_NAME); seeds the resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption: az functionapp list-flexconsumption-locations -o table')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group to create or reuse; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the person (or pipeline) running azd, given data access to the tables for support and the CLI. Empty: nobody.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

// ---------------------------------------------------------------------------------------------------------------
// Where usage comes from
// ---------------------------------------------------------------------------------------------------------------

@description('''
Resource id of the gateway's Application Insights component
(/subscriptions/.../resourceGroups/.../providers/Microsoft.Insights/components/<name>) or of the Log Analytics
workspace behind it (.../providers/Microsoft.OperationalInsights/workspaces/<name>). The app's identity gets read
access to it; it may live in another resource group or subscription of the same tenant.
''')
param usageSourceResourceId string

@description('Metric namespace the gateway\'s llm-emit-token-metric policy writes to (METRIC_NAMESPACE); an empty string reads every namespace.')
param metricNamespace string = 'claudecode'

// ---------------------------------------------------------------------------------------------------------------
// Reporting and mail
// ---------------------------------------------------------------------------------------------------------------

@description('IANA time zone whose calendar days and months the reports follow, e.g. Europe/Paris.')
param reportingTimeZone string = 'UTC'

@description('Finance recipients of the monthly workbook, separated by ";".')
param financeRecipients string

@description('Who is told of a close held for review or refused by its controls (comma separated); nobody else hears of it.')
param operatorRecipients string

@description('The Exchange Online mailbox Graph sends as (UPN or object id); scope Mail.Send to it (infra/README.md).')
param senderMailbox string

@description('Address shown as the sender; default: the sender mailbox (set it when senderMailbox is an object id, not a UPN).')
param mailFrom string = ''

@description('Team strategy of the Graph directory: group-prefix, department or cost-center.')
@allowed(['group-prefix', 'department', 'cost-center'])
param graphTeamStrategy string = 'group-prefix'

@description('group-prefix only: groups named <prefix><team> are teams.')
param graphTeamGroupPrefix string = 'team-'

@description('NCRONTAB (UTC) of the daily ingest: after midnight in the reporting zone and after late data settles.')
param dailyIngestSchedule string = '0 30 5 * * *'

@description('NCRONTAB (UTC) of the hourly ingest of today so far, which sends budget alerts within the hour; five past the hour leaves App Insights time to take in the previous hour.')
param hourlyIngestSchedule string = '0 5 * * * *'

@description('NCRONTAB (UTC) of the monthly close check. It runs daily: the function closes the previous month once MONTHLY_CLOSE_GRACE_DAYS have passed, and a rerun of a closed month sends nothing.')
param monthlyCloseSchedule string = '0 0 6 * * *'

// ---------------------------------------------------------------------------------------------------------------
// Budgets and alerts
// ---------------------------------------------------------------------------------------------------------------

@description('Budgets file inside the deployment package (e.g. data/budgets.json), BUDGETS_FILE. Empty: no team budgets; finance alerts still go out.')
param budgetsFile string = ''

@description('Where an alert tells a lead to look the numbers up, https, with {teamId} and {month} placeholders (COST_LOOKUP_URL). Empty: no link.')
param costLookupUrl string = ''

@secure()
@description('Microsoft Teams incoming / Workflows webhook that receives every alert (TEAMS_WEBHOOK_URL). Empty: none. The URL is a bearer secret.')
param teamsWebhookUrl string = ''

// ---------------------------------------------------------------------------------------------------------------
// Team cost lookup API
// ---------------------------------------------------------------------------------------------------------------

@description('Entra tenant whose tokens the lookup API accepts; empty: the tenant of this subscription.')
param apiTenantId string = ''

@description('''
Client id and/or application ID URI (api://...) of the lookup API's app registration, ";"-separated, as tokens
carry them in `aud`. Empty: the API is left unconfigured and answers 500 "not configured" (the timers still run).
''')
param apiAudience string = ''

// ---------------------------------------------------------------------------------------------------------------
// Gateway policy (optional): off unless apimName is given (infra/apim, docs/gateway.md)
// ---------------------------------------------------------------------------------------------------------------

@description('Existing API Management instance of the gateway. Empty: the gateway policy is not deployed.')
param apimName string = ''

@description('Resource group of the API Management instance; default: the resource group of this deployment.')
param apimResourceGroupName string = ''

@description('The Claude (Foundry) API inside API Management that gets the policy.')
param apimApiName string = 'claude'

@description('Audience of the gateway app registration (e.g. api://claude-code-gateway), checked by the policy.')
param gatewayAudience string = ''

@description('Application Insights component the gateway writes to; default usageSourceResourceId when it is a component.')
param gatewayApplicationInsightsId string = ''

// ---------------------------------------------------------------------------------------------------------------
// The Azure bill (true-up of the list-price estimate, docs/billing.md)
// ---------------------------------------------------------------------------------------------------------------

@description('Create a daily Cost Management FOCUS export of this subscription into the app\'s storage. False: no export (create one at the billing scope by hand, docs/billing.md); the container and the app\'s read access are still created.')
param createCostExport bool = true

@description('Resource ids of the Microsoft Foundry account(s) Claude is billed on, ";"-separated (BILLED_FOUNDRY_RESOURCE_IDS). Rows of publisher Anthropic count as Claude\'s whatever their resource.')
param foundryResourceIds string = ''

@description('First day of the export schedule; default: the deployment day.')
param costExportStart string = '${utcNow('yyyy-MM-dd')}T00:00:00Z'

// ---------------------------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------------------------

@description('Keep false: every caller uses Entra ID. True only for a code version that still needs STORAGE_CONNECTION_STRING.')
param storageAllowSharedKeyAccess bool = false

// ---------------------------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName, workload: 'llm-gateway-chargeback' }
var functionAppName = 'func-chargeback-${resourceToken}'
// Container names: 3-63 lowercase letters, digits and dashes.
var deploymentContainerName = 'app-package-${resourceToken}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

// ---------------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------------

module identity 'core/security/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-chargeback-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    // Storage account names: 3-24 lowercase letters and digits, globally unique.
    name: 'stcharge${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    allowSharedKeyAccess: storageAllowSharedKeyAccess
    // The close's work queues: shared/ports/work-queues.ts WORK_QUEUE_NAMES.
    queueNames: ['close-team', 'close-finance', 'close-mail']
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-chargeback-${resourceToken}'
    applicationInsightsName: 'appi-chargeback-${resourceToken}'
    location: location
    tags: tags
  }
}

module plan 'core/host/flex-consumption-plan.bicep' = {
  name: 'plan'
  scope: rg
  params: {
    name: 'plan-chargeback-${resourceToken}'
    location: location
    tags: tags
  }
}

// Read access to the gateway's logs, deployed where they live.
var usageSourceParts = split(usageSourceResourceId, '/')
module usageSourceAccess 'app/usage-source-access.bicep' = {
  name: 'usage-source-access-${resourceToken}'
  scope: resourceGroup(usageSourceParts[2], usageSourceParts[4])
  params: {
    usageSourceResourceId: usageSourceResourceId
    identityPrincipalId: identity.outputs.principalId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// The FOCUS export lands in the app's storage account; the app reads it with its identity (Reader on the container).
var billedCostContainerName = 'cost-exports'
var billedCostRootFolder = 'focus'
var costExportName = 'chargeback-focus-${resourceToken}'

module costExport 'app/cost-export.bicep' = if (createCostExport) {
  name: 'cost-export-${resourceToken}'
  scope: subscription()
  params: {
    name: costExportName
    location: location
    storageAccountId: storage.outputs.id
    containerName: billedCostContainerName
    rootFolderPath: billedCostRootFolder
    scheduleStart: costExportStart
  }
}

module billedCostStorage 'app/billed-cost-storage.bicep' = {
  name: 'billed-cost-storage'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: billedCostContainerName
    appPrincipalId: identity.outputs.principalId
    exportPrincipalId: createCostExport ? costExport.outputs.principalId : ''
  }
}

// Workbooks and the FOCUS export outlive the run in a private container; mails link what is too large to attach.
module artifactStorage 'app/artifact-storage.bicep' = {
  name: 'artifact-storage'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    containerName: 'artifacts'
    appPrincipalId: identity.outputs.principalId
  }
}

var billingSettings = {
  BILLED_COST_SOURCE: 'blob'
  BILLED_COST_CONTAINER_URL: billedCostStorage.outputs.containerUrl
  BILLED_COST_BLOB_PREFIX: '${billedCostRootFolder}/'
  BILLED_COST_COLUMN: 'EffectiveCost'
  BILLED_FOUNDRY_RESOURCE_IDS: foundryResourceIds
  BILLED_PUBLISHERS: 'Anthropic'
  BILLED_RESIDUE: 'bucket'
  BILLED_RATIO_MIN: '0.5'
  BILLED_RATIO_MAX: '1.05'
  BILLED_UNMETERED_DAYS: 'hold'
}

// ---------------------------------------------------------------------------------------------------------------
// The product's settings: every name read by shared/config/settings.ts (plus the two timer schedules the
// functions bind with %NAME%). Settings left out are the local-only ones (USAGE_FILES, DIRECTORY_FILE, SMTP_*),
// the sovereign-cloud overrides (LOGS_ENDPOINT, GRAPH_BASE_URL), the lead role (AUTH_LEAD_ROLE, off by default) and
// DIRECTORY_OVERRIDES_FILE: add them in the portal or here when you need them.
// ---------------------------------------------------------------------------------------------------------------

var usageFromWorkspace = contains(toLower(usageSourceResourceId), '/providers/microsoft.operationalinsights/workspaces/')
// Only one of the two ids may be set. A workspace answers AppMetrics ('workspace'); a component answers
// customMetrics ('classic').
var workspaceTarget = { APPINSIGHTS_WORKSPACE_ID: usageSourceAccess.outputs.workspaceCustomerId, APPINSIGHTS_MODE: 'workspace' }
var componentTarget = { APPINSIGHTS_RESOURCE_ID: usageSourceResourceId, APPINSIGHTS_MODE: 'classic' }
var usageTarget = usageFromWorkspace ? workspaceTarget : componentTarget

var apiConfigured = !empty(apiAudience)
var effectiveApiTenantId = !empty(apiTenantId) ? apiTenantId : tenant().tenantId

var productSettings = union(usageTarget, {
  REPORTING_TIME_ZONE: reportingTimeZone

  // Usage: the gateway's llm-emit-token-metric metrics, read through the Logs query API.
  USAGE_SOURCE: 'app-insights'
  METRIC_NAMESPACE: metricNamespace
  METRIC_NAMESPACE_PROPERTY: '_MS.MetricNamespace'
  METRIC_TOKEN_KINDS: 'Prompt Tokens=input;Completion Tokens=output'
  METRIC_TOTAL_TOKENS: 'Total Tokens'
  METRIC_REQUEST_COUNT: 'Prompt Tokens'
  DIMENSION_USER_ID: 'UserId'
  DIMENSION_MODEL: 'Model'
  DIMENSION_TIER: 'Tier'
  LOGS_MAX_CONCURRENCY: '3'
  INGEST_TRAILING_DAYS: '3'
  INGEST_MAX_CATCH_UP_DAYS: '31'
  DAILY_INGEST_SCHEDULE: dailyIngestSchedule
  HOURLY_INGEST_SCHEDULE: hourlyIngestSchedule

  // Directory: users to teams through Microsoft Graph, cached in Table Storage.
  DIRECTORY_SOURCE: 'graph'
  GRAPH_TEAM_STRATEGY: graphTeamStrategy
  GRAPH_TEAM_GROUP_PREFIX: graphTeamGroupPrefix
  DIRECTORY_CACHE_TTL_HOURS: '24'

  // Shipped in the deployment package, resolved from the folder holding package.json.
  PRICE_BOOK_FILE: 'data/price-book.json'

  // Tables through the managed identity (no account key): the code must build its TableClient from this
  // endpoint and the shared credential when STORAGE_CONNECTION_STRING is unset.
  STORAGE_TABLE_ENDPOINT: storage.outputs.tableEndpoint
  TABLE_PREFIX: 'chargeback'

  // The close's work items go on Storage queues with the identity (docs/fan-out.md); the queue triggers read
  // them through the WorkQueues__* settings of function-app.bicep. CLOSE_WORKERS only sizes local runs.
  WORK_QUEUES_URL: storage.outputs.queueEndpoint
  CLOSE_WORKERS: '4'

  // Mail: Graph sendMail as one Exchange mailbox, paced under Exchange's ~30 messages a minute.
  MAIL_TRANSPORT: 'graph'
  MAIL_SENDER_MAILBOX: senderMailbox
  MAIL_FROM: !empty(mailFrom) ? mailFrom : senderMailbox
  FINANCE_RECIPIENTS: financeRecipients
  MAIL_MESSAGES_PER_MINUTE: '30'

  // Workbooks and exports go to the artifacts container with the identity (docs/artifacts.md); a workbook over
  // ARTIFACT_ATTACH_MAX_MB, and the FOCUS export always, reach their readers as links that expire.
  ARTIFACT_STORE: 'blob'
  ARTIFACTS_CONTAINER_URL: artifactStorage.outputs.containerUrl
  ARTIFACT_ATTACH_MAX_MB: '10'
  ARTIFACT_LINK_HOURS: '168'
  // The app package is read-only on Flex Consumption; /tmp is the writable scratch space (the outbox, and
  // ARTIFACTS_DIR should ARTIFACT_STORE be set back to directory).
  ARTIFACTS_DIR: '/tmp/chargeback/reports'
  OUTBOX_DIR: '/tmp/chargeback/outbox'

  MONTHLY_CLOSE_SCHEDULE: monthlyCloseSchedule
  MONTHLY_CLOSE_GRACE_DAYS: '2'
  // Close controls (docs/close-controls.md): held or refused closes reach only the operator.
  OPERATOR_RECIPIENTS: operatorRecipients
  CLOSE_MAX_REJECT_PERCENT: '1'
  CLOSE_TOTAL_TOKENS_TOLERANCE_PERCENT: '0'
  CLOSE_LEASE_SECONDS: '120'

  // Lookup API: tokens of this tenant for this audience; finance holds the Chargeback.Finance app role.
  AUTH_TENANT_ID: apiConfigured ? effectiveApiTenantId : ''
  AUTH_AUDIENCE: apiAudience
  AUTH_FINANCE_ROLE: 'Chargeback.Finance'
  COST_CACHE_TTL_SECONDS: '60'

  // Alerts: finance is copied on budget alerts; unallocated usage alerts at these shares of the month's tokens.
  ALERT_CC_FINANCE: 'true'
  UNALLOCATED_ALERT_PERCENTS: '10;25;50'
})

// Optional settings appear only when given: the code treats a present-but-empty value like an absent one today,
// but an absent one is clearer in the portal.
var optionalSettings = union(
  empty(budgetsFile) ? {} : { BUDGETS_FILE: budgetsFile },
  empty(costLookupUrl) ? {} : { COST_LOOKUP_URL: costLookupUrl },
  empty(teamsWebhookUrl) ? {} : { TEAMS_WEBHOOK_URL: teamsWebhookUrl }
)

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    serviceName: 'api'
    planId: plan.outputs.id
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    appSettings: union(productSettings, optionalSettings, billingSettings)
  }
  // The app reads its deployment package and host storage with the identity from its first start.
  dependsOn: [rbac]
}

module gatewayPolicy 'apim/apim-chargeback.bicep' = if (!empty(apimName)) {
  name: 'gateway-policy-${resourceToken}'
  scope: resourceGroup(!empty(apimResourceGroupName) ? apimResourceGroupName : rg.name)
  params: {
    apimName: apimName
    apiName: apimApiName
    gatewayTenantId: tenant().tenantId
    gatewayAudience: gatewayAudience
    applicationInsightsId: !empty(gatewayApplicationInsightsId) ? gatewayApplicationInsightsId : usageSourceResourceId
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs (azd stores them in .azure/<env>/.env)
// ---------------------------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URI string = 'https://${functionApp.outputs.defaultHostName}'
@description('The cost page (functions/http-web.ts), and the SPA redirect URI to register on the API app registration (infra/README.md, step 4).')
output COST_PAGE_URL string = 'https://${functionApp.outputs.defaultHostName}/api/web/'
@description('Object id of the managed identity: grant it the Graph app roles (infra/README.md).')
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output STORAGE_TABLE_ENDPOINT string = storage.outputs.tableEndpoint
output WORK_QUEUES_URL string = storage.outputs.queueEndpoint
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
