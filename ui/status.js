// A minimal status board until the live dashboard lands: polls /api/health once a second.
// Every value is set with textContent, never as HTML.
const SYMBOL = { pass: '✔ PASS', fail: '✘ FAIL', interrupted: '⚠ INTERRUPTED', offline: '⚠ OFFLINE', refused: '⛔ REFUSED', idle: '… IDLE', identifying: '⟳ IDENTIFYING', testing: '⟳ TESTING', blessing: '⟳ BLESSING' };

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function refresh() {
  try {
    const res = await fetch('/api/health');
    const h = await res.json();
    document.getElementById('title').textContent = `BlinkUp Station ${h.stationId}`;
    const y = h.yield.firstPass === null ? '–' : `${Math.round(h.yield.firstPass * 1000) / 10}%`;
    document.getElementById('summary').textContent = `blessed ${h.counts.devicesBlessed} · failed runs ${h.counts.failed} · first-pass yield ${y} · upload queue ${h.uplink.queued}`;
    const root = document.getElementById('slots');
    root.replaceChildren(
      ...h.slots.map((s) => {
        const tile = el('section', `slot ${s.state}`);
        tile.append(el('h2', '', s.name), el('div', 'state', SYMBOL[s.state] || s.state));
        const step = s.step && ['testing', 'identifying', 'blessing'].includes(s.state) ? `step ${s.step.index + 1} of ${s.step.count}: ${s.step.name}` : '';
        tile.append(el('div', 'detail', [s.deviceId, step, s.reason].filter(Boolean).join(' — ')));
        return tile;
      }),
    );
  } catch (err) {
    document.getElementById('summary').textContent = `station not reachable (${err.message})`;
  }
  setTimeout(refresh, 1000);
}
refresh();
