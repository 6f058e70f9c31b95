// The station's topics in the plant's unified namespace (docs/mqtt.md): ISA-95 levels, then the
// station, then what is published about it:
//
//   <topicPrefix>/<enterprise>/<site>/<area>/<line>/<stationId>/state            retained
//   <topicPrefix>/<enterprise>/<site>/<area>/<line>/<stationId>/slots/<n>/state   retained
//   <topicPrefix>/<enterprise>/<site>/<area>/<line>/<stationId>/units/<deviceId>/result
//   <topicPrefix>/<enterprise>/<site>/<area>/<line>/<stationId>/alarms           retained
//   <topicPrefix>/<enterprise>/<site>/<area>/<line>/<stationId>/metrics          retained
//
// A level taken from data (a Device ID) has "/", "+", "#", "%" and NUL percent-encoded, so it is
// always exactly one level and never a wildcard.

export interface NamespacePath {
  topicPrefix: string;
  enterprise: string;
  site: string;
  area: string;
  line: string;
  stationId: string;
}

/** One topic level from any text: "/", "+", "#", "%" and NUL as %2F, %2B, %23, %25, %00. */
export function topicLevel(text: string): string {
  return text.replace(/[/+#%\u0000]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export class StationTopics {
  /** `<topicPrefix>/<enterprise>/<site>/<area>/<line>/<stationId>`. */
  readonly base: string;

  constructor(path: NamespacePath) {
    this.base = [path.topicPrefix, path.enterprise, path.site, path.area, path.line, path.stationId].map(topicLevel).join('/');
  }

  get state(): string {
    return `${this.base}/state`;
  }

  /** A slot's state; `slot` is the slot's index as the station's API numbers it (from 0). */
  slot(slot: number): string {
    return `${this.base}/slots/${slot}/state`;
  }

  result(deviceId: string): string {
    return `${this.base}/units/${topicLevel(deviceId)}/result`;
  }

  get alarms(): string {
    return `${this.base}/alarms`;
  }

  get metrics(): string {
    return `${this.base}/metrics`;
  }
}
