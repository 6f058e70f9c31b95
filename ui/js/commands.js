// The command sheet (engineer console, "Command barcodes"): the barcodes a dashboard screen's
// keyboard-wedge scanner understands (docs/protocols.md, "Scanning at the dashboard"), drawn as
// Code 128 by bwip-js and laid out to print: the answers (CMD:PASS, CMD:FAIL), start the selected
// nest, and per nest its SLOT barcode (selects it), its start and its clear.
/* global bwipjs */
import { api, getSession } from './api.js';
import { byId, el, setText } from './dom.js';

function code(text, words) {
  const canvas = el('canvas', { attrs: { role: 'img', 'aria-label': `barcode ${text}` }, dataset: { code: text } });
  // Code 128 at 0.33 mm a module (scale 3 at 96 dpi), 12 mm high: what a handheld reads from a sheet at arm's length.
  bwipjs.toCanvas(canvas, { bcid: 'code128', text, scale: 3, height: 12, includetext: false, paddingwidth: 10, paddingheight: 4, backgroundcolor: 'FFFFFF' });
  return el(
    'figure',
    { className: 'code', dataset: { command: text } },
    canvas,
    el('figcaption', {}, el('div', { className: 'code-words', text: words }), el('div', { className: 'code-text', text })),
  );
}

function fail(message) {
  const node = byId('sheet-error');
  setText(node, message);
  node.hidden = false;
}

(async () => {
  if (typeof bwipjs === 'undefined') return fail('The barcode library did not load (/vendor/bwip-js): the station was installed without bwip-js.');
  const session = await getSession().catch(() => null);
  if (!session) return fail('Log in to the engineer console first, then open this sheet again.');
  const { data: health } = await api('/api/health', { allow: [503] });
  setText(byId('station-name'), `· ${health.name || health.stationId}`);
  byId('print').addEventListener('click', () => window.print());
  byId('answers').append(code('CMD:PASS', '✓ YES / PASS'), code('CMD:FAIL', '✗ NO / FAIL'), code('CMD:START', '▶ Start the selected nest'), code('CMD:CLEAR', 'Clear the selected nest’s verdict'));
  const slots = Array.isArray(health.slots) ? health.slots : [];
  // SLOT:<n> is the default slot barcode (labels.slotBarcodePattern); a station with its own format prints its slot barcodes itself.
  for (const s of slots) {
    const n = s.slot + 1;
    const name = s.name || `Nest ${n}`;
    byId('nests').append(code(`SLOT:${n}`, `Select ${name}`), code(`CMD:START:${n}`, `▶ Start ${name}`), code(`CMD:CLEAR:${n}`, `Clear ${name}`));
  }
  document.body.dataset.ready = 'true';
})().catch((err) => fail(`The sheet could not be made: ${err.message}`));
