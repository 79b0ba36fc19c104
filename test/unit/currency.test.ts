import { describe, expect, it } from 'vitest';
import { currencyMinorUnits, ISO_4217_CODES, isIsoCurrency } from '../../shared/domain/currency.js';

describe('ISO 4217 currencies', () => {
  it('knows the minor units finance posts with', () => {
    expect(currencyMinorUnits('USD')).toBe(2);
    expect(currencyMinorUnits('EUR')).toBe(2);
    expect(currencyMinorUnits('JPY')).toBe(0);
    expect(currencyMinorUnits('KRW')).toBe(0);
    expect(currencyMinorUnits('BHD')).toBe(3);
    expect(currencyMinorUnits('KWD')).toBe(3);
    expect(currencyMinorUnits('CLF')).toBe(4);
    // ISO 4217 says two, where CLDR (and so Intl.NumberFormat) shows none.
    expect(currencyMinorUnits('HUF')).toBe(2);
    expect(currencyMinorUnits('IDR')).toBe(2);
  });

  it('refuses codes that are not current currencies', () => {
    for (const code of ['XYZ', 'XAU', 'XXX', 'XTS', 'HRK', 'usd', 'US']) expect(isIsoCurrency(code), code).toBe(false);
    for (const code of ['USD', 'EUR', 'GBP', 'CHF', 'JPY', 'BHD', 'XCG', 'ZWG']) expect(isIsoCurrency(code), code).toBe(true);
  });

  it('lists only codes the runtime can also format, so every amount can be shown', () => {
    expect(ISO_4217_CODES.length).toBeGreaterThan(150);
    for (const code of ISO_4217_CODES) {
      expect(code).toMatch(/^[A-Z]{3}$/);
      expect(() => new Intl.NumberFormat('en', { style: 'currency', currency: code }).format(1), code).not.toThrow();
    }
  });
});
