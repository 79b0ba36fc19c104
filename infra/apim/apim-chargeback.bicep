metadata description = '''
The gateway half of the chargeback contract, on an existing API Management instance (v2 tier for the Anthropic
Messages format): the named values the policy reads, the Application Insights logger, the API's diagnostic with
custom metrics on, and the API-level policy (claude-api-policy.xml). docs/gateway.md lists what stays manual,
above all "custom metrics with dimensions" on the Application Insights resource.
'''

@description('Name of the existing API Management instance.')
param apimName string

@description('Name of the existing API (the Claude / Foundry Anthropic Messages API) the policy applies to.')
param apiName string

@description('Entra tenant whose tokens the gateway accepts (named value chargeback-tenant-id).')
param gatewayTenantId string

@description('Audience of the gateway app registration, e.g. api://claude-code-gateway (named value chargeback-gateway-audience).')
param gatewayAudience string

@description('Resource id of the Application Insights component the metrics go to.')
param applicationInsightsId string

@secure()
@description('Foundry API key (named value foundry-api-key, secret). Empty: the named value is left to be created by hand or by Key Vault reference.')
param foundryApiKey string = ''

resource apim 'Microsoft.ApiManagement/service@2023-05-01-preview' existing = {
  name: apimName
}

resource api 'Microsoft.ApiManagement/service/apis@2023-05-01-preview' existing = {
  parent: apim
  name: apiName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: last(split(applicationInsightsId, '/'))
  scope: resourceGroup(split(applicationInsightsId, '/')[2], split(applicationInsightsId, '/')[4])
}

resource tenantNamedValue 'Microsoft.ApiManagement/service/namedValues@2023-05-01-preview' = {
  parent: apim
  name: 'chargeback-tenant-id'
  properties: { displayName: 'chargeback-tenant-id', value: gatewayTenantId, secret: false }
}

resource audienceNamedValue 'Microsoft.ApiManagement/service/namedValues@2023-05-01-preview' = {
  parent: apim
  name: 'chargeback-gateway-audience'
  properties: { displayName: 'chargeback-gateway-audience', value: gatewayAudience, secret: false }
}

// A named value cannot be empty: "none" blocks nobody. The pipeline's budget action rewrites it (docs/gateway.md);
// redeploying this module resets it, which lifts any block until the next evaluation.
resource blockedNamedValue 'Microsoft.ApiManagement/service/namedValues@2023-05-01-preview' = {
  parent: apim
  name: 'chargeback-blocked-oids'
  properties: { displayName: 'chargeback-blocked-oids', value: 'none', secret: false }
}

resource foundryKeyNamedValue 'Microsoft.ApiManagement/service/namedValues@2023-05-01-preview' = if (!empty(foundryApiKey)) {
  parent: apim
  name: 'foundry-api-key'
  properties: { displayName: 'foundry-api-key', value: foundryApiKey, secret: true }
}

resource logger 'Microsoft.ApiManagement/service/loggers@2023-05-01-preview' = {
  parent: apim
  name: 'chargeback-appinsights'
  properties: {
    loggerType: 'applicationInsights'
    resourceId: applicationInsightsId
    // The template reference documents the instrumentation key as the applicationInsights logger's credential.
    credentials: { instrumentationKey: appInsights.properties.InstrumentationKey }
    isBuffered: true
  }
}

// metrics: true is what lets emit-metric and llm-emit-token-metric write custom metrics for this API.
resource diagnostic 'Microsoft.ApiManagement/service/apis/diagnostics@2023-05-01-preview' = {
  parent: api
  name: 'applicationinsights'
  properties: {
    loggerId: logger.id
    metrics: true
    alwaysLog: 'allErrors'
    sampling: { samplingType: 'fixed', percentage: 100 }
    verbosity: 'error'
  }
}

resource policy 'Microsoft.ApiManagement/service/apis/policies@2023-05-01-preview' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'xml'
    value: loadTextContent('claude-api-policy.xml')
  }
  dependsOn: [tenantNamedValue, audienceNamedValue, blockedNamedValue, foundryKeyNamedValue, diagnostic]
}

output loggerId string = logger.id
