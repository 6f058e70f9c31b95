// Particle device platforms: the numeric platform id a device reports (Device OS PLATFORM_ID) and
// the name people know it by. A Particle product holds devices of one platform only (a Boron
// cannot join an Argon product), so the station names both sides when they differ. The ids are
// Device OS's; a platform not in this table is named by its number.

const PLATFORM_NAMES: ReadonlyMap<number, string> = new Map([
  [6, 'Photon'],
  [8, 'P1'],
  [10, 'Electron/E Series'],
  [12, 'Argon'],
  [13, 'Boron'],
  [14, 'Xenon'],
  [22, 'A SoM'],
  [23, 'B SoM (B4xx)'],
  [25, 'B5 SoM (B5xx)'],
  [26, 'Tracker'],
  [32, 'P2/Photon 2'],
  [35, 'M SoM'],
]);

/** "Boron (platform 13)", or "platform 99" for one this table does not know. */
export function platformWords(id: number): string {
  const name = PLATFORM_NAMES.get(id);
  return name ? `${name} (platform ${id})` : `platform ${id}`;
}

/** The platform id a device reported ("13", or a name such as "boron"); null when it is neither. */
export function parsePlatform(reported: string): number | null {
  const text = reported.trim();
  if (/^\d{1,4}$/.test(text)) return Number(text);
  const lower = text.toLowerCase();
  for (const [id, name] of PLATFORM_NAMES) if (name.toLowerCase().split(/[ /(]/)[0] === lower) return id;
  return null;
}

/** A Particle Device ID: 24 hex characters (96 bits), every one significant. */
export const PARTICLE_DEVICE_ID = /^[0-9a-f]{24}$/;
