/** The daily ingest of a whole month, for the benchmarks: every day of BENCH_INGEST_MONTH into the daily rollups. */
import { createServices } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';
import { loadSettings } from '../shared/config/settings.js';
import { silentLogger } from '../shared/ports/runtime.js';
import { ingestDaily } from '../shared/use-cases/ingest-daily.js';
import { benchSettings } from './support.js';

const { BENCH_INGEST_MONTH: month, ...environment } = benchSettings();
if (month === undefined) throw new Error('BENCH_INGEST_MONTH is not set');
const services = await createServices(loadSettings(environment, { projectRoot: PROJECT_ROOT }), { logger: silentLogger });
const [year, monthNumber] = month.split('-').map(Number) as [number, number];
const lastDay = new Date(Date.UTC(year, monthNumber, 0)).getUTCDate();
await ingestDaily(services.ingestDaily, { trigger: 'bench', range: { from: `${month}-01`, to: `${month}-${String(lastDay).padStart(2, '0')}` } });
