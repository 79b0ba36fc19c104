import { createRequire } from 'node:module';

/**
 * Microsoft's Kusto language service (Kusto.Language compiled to JavaScript with Bridge.NET): parses a query
 * and binds it against a declared schema, reporting unknown tables, columns and functions and type errors,
 * offline. The package defines the globals `Bridge` and `Kusto` when its two scripts are loaded in order.
 */

export type KustoColumnType = 'bool' | 'datetime' | 'dynamic' | 'guid' | 'int' | 'long' | 'real' | 'string' | 'timespan';

export interface KustoDiagnostic {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  /** The offending text, to make a failing assertion readable. */
  readonly text: string;
}

export type KustoTables = Readonly<Record<string, Readonly<Record<string, KustoColumnType>>>>;

/* The library's own typings are 1.7 MB of global namespaces; these are the few members used here. */
interface BridgeDiagnostic {
  Severity: string;
  Code: string;
  Message: string;
  Start: number;
  Length: number;
}
interface KustoLanguage {
  Symbols: {
    ScalarTypes: Record<string, unknown>;
    ColumnSymbol: new (name: string, type: unknown, description: null, originalColumns: null, source: null, examples: null) => unknown;
    TableSymbol: { $ctor4: new (name: string, columns: unknown[]) => unknown };
    DatabaseSymbol: { $ctor2: new (name: string, alternateName: null, members: unknown[]) => unknown };
  };
  GlobalState: { Default: { WithDatabase(database: unknown): unknown } };
  KustoCode: { ParseAndAnalyze(text: string, globals: unknown): { GetDiagnostics(): unknown } };
}
interface BridgeRuntime {
  toArray<T>(list: unknown): T[];
}

let loaded: { kusto: KustoLanguage; bridge: BridgeRuntime } | undefined;

function load(): { kusto: KustoLanguage; bridge: BridgeRuntime } {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    require('@kusto/language-service-next/bridge.js');
    require('@kusto/language-service-next/Kusto.Language.Bridge.js');
    const scope = globalThis as unknown as { Kusto: { Language: KustoLanguage }; Bridge: BridgeRuntime };
    loaded = { kusto: scope.Kusto.Language, bridge: scope.Bridge };
  }
  return loaded;
}

const SCALAR_TYPE_NAMES: Readonly<Record<KustoColumnType, string>> = {
  bool: 'Bool',
  datetime: 'DateTime',
  dynamic: 'Dynamic',
  guid: 'Guid',
  int: 'Int',
  long: 'Long',
  real: 'Real',
  string: 'String',
  timespan: 'TimeSpan',
};

/** A database holding `tables`, ready to analyse queries against. */
export function createKustoSchema(tables: KustoTables): unknown {
  const { kusto } = load();
  const { Symbols } = kusto;
  const tableSymbols = Object.entries(tables).map(([tableName, columns]) => {
    const columnSymbols = Object.entries(columns).map(([name, type]) => {
      const scalar = Symbols.ScalarTypes[SCALAR_TYPE_NAMES[type]];
      if (scalar === undefined || scalar === null) throw new Error(`the Kusto language service has no scalar type ${type}`);
      return new Symbols.ColumnSymbol(name, scalar, null, null, null, null);
    });
    return new Symbols.TableSymbol.$ctor4(tableName, columnSymbols);
  });
  return kusto.GlobalState.Default.WithDatabase(new Symbols.DatabaseSymbol.$ctor2('db', null, tableSymbols));
}

/** Every diagnostic (errors and warnings) the language service reports for `query` against `schema`. */
export function analyzeKql(query: string, schema: unknown): KustoDiagnostic[] {
  const { kusto, bridge } = load();
  const code = kusto.KustoCode.ParseAndAnalyze(query, schema);
  return bridge.toArray<BridgeDiagnostic>(code.GetDiagnostics()).map((d) => ({
    severity: String(d.Severity),
    code: String(d.Code),
    message: String(d.Message),
    text: query.slice(d.Start, d.Start + d.Length),
  }));
}

/** customMetrics of a classic App Insights resource, as documented. */
export const CUSTOM_METRICS_COLUMNS: Readonly<Record<string, KustoColumnType>> = {
  timestamp: 'datetime',
  name: 'string',
  value: 'real',
  valueCount: 'int',
  valueSum: 'real',
  valueMin: 'real',
  valueMax: 'real',
  valueStdDev: 'real',
  customDimensions: 'dynamic',
  operation_Name: 'string',
  operation_Id: 'string',
  operation_ParentId: 'string',
  operation_SyntheticSource: 'string',
  session_Id: 'string',
  user_Id: 'string',
  user_AuthenticatedId: 'string',
  user_AccountId: 'string',
  application_Version: 'string',
  client_Type: 'string',
  client_Model: 'string',
  client_OS: 'string',
  client_IP: 'string',
  client_City: 'string',
  client_StateOrProvince: 'string',
  client_CountryOrRegion: 'string',
  client_Browser: 'string',
  cloud_RoleName: 'string',
  cloud_RoleInstance: 'string',
  appId: 'string',
  appName: 'string',
  iKey: 'string',
  sdkVersion: 'string',
  itemId: 'string',
  itemType: 'string',
  itemCount: 'int',
};

/** AppMetrics of a workspace-based App Insights resource, as documented. */
export const APP_METRICS_COLUMNS: Readonly<Record<string, KustoColumnType>> = {
  TenantId: 'string',
  TimeGenerated: 'datetime',
  Name: 'string',
  Sum: 'real',
  Min: 'real',
  Max: 'real',
  ItemCount: 'int',
  Properties: 'dynamic',
  AppRoleName: 'string',
  AppRoleInstance: 'string',
  AppVersion: 'string',
  ClientType: 'string',
  ClientIP: 'string',
  IKey: 'string',
  OperationId: 'string',
  OperationName: 'string',
  ParentId: 'string',
  ResourceGUID: 'string',
  SDKVersion: 'string',
  SessionId: 'string',
  SyntheticSource: 'string',
  UserId: 'string',
  UserAuthenticatedId: 'string',
  UserAccountId: 'string',
  SourceSystem: 'string',
  Type: 'string',
  _ResourceId: 'string',
};
