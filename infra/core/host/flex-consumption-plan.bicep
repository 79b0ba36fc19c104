metadata description = 'A Flex Consumption (FC1) hosting plan, Linux.'

param name string
param location string
param tags object = {}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Flex Consumption runs on Linux only; `reserved: true` is how ARM says "Linux".
    reserved: true
  }
}

output id string = plan.id
output name string = plan.name
