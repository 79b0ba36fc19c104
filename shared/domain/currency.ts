/**
 * ISO 4217 currency codes in use, with their minor units (the number of decimals an amount is posted with):
 * JPY 0, USD 2, BHD 3. A kept list rather than `Intl.supportedValuesOf('currency')`, for two reasons checked
 * on Node 20 and 22: Intl's list depends on the ICU the runtime was built with (it still lists withdrawn codes
 * such as HRK and SLL), and Intl's digits are CLDR's display digits, not ISO 4217's minor units (Intl says
 * HUF 0, IDR 0, COP 0; ISO 4217 says 2). Amounts here are posted by finance, so ISO 4217 decides.
 * Source: the ISO 4217 list one (current currencies), as published by SIX; docs/currency.md.
 * Codes without a minor unit (gold XAU, SDR XDR, testing XTS, "no currency" XXX) are left out: a price
 * book cannot be kept in them.
 */
const ZERO_DECIMALS = 'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF';
const THREE_DECIMALS = 'BHD IQD JOD KWD LYD OMR TND';
const FOUR_DECIMALS = 'CLF UYW';
const TWO_DECIMALS =
  'AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF ' +
  'CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG ' +
  'HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR ' +
  'MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD ' +
  'SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG ' +
  'YER ZAR ZMW ZWG';

const MINOR_UNITS: ReadonlyMap<string, number> = new Map([
  ...TWO_DECIMALS.split(' ').map((code) => [code, 2] as const),
  ...ZERO_DECIMALS.split(' ').map((code) => [code, 0] as const),
  ...THREE_DECIMALS.split(' ').map((code) => [code, 3] as const),
  ...FOUR_DECIMALS.split(' ').map((code) => [code, 4] as const),
]);

/** Every code the project accepts, sorted. */
export const ISO_4217_CODES: readonly string[] = [...MINOR_UNITS.keys()].sort();

export function isIsoCurrency(code: string): boolean {
  return MINOR_UNITS.has(code);
}

/**
 * The decimals an amount in `currency` is rounded to. A code that is not ISO 4217 cannot get this far (the
 * price book and budgets refuse it); should one arrive anyway, two decimals keep the figures showing.
 */
export function currencyMinorUnits(currency: string): number {
  return MINOR_UNITS.get(currency.toUpperCase()) ?? 2;
}
