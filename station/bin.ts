#!/usr/bin/env node
// The package's command, `blinkup-station` (package.json "bin"): the daemon's entry, station/main.ts,
// under a name a service manager or a person can call. `blinkup-station --help` says what it takes.
import './main.js';
