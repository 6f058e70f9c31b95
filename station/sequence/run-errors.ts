// Why a run ends other than by its DUT's verdict. Thrown inside a run, caught by the runner.

/** The run must end `interrupted`: cable pulled, DUT rebooted, shutdown. Never blessed. */
export class Interrupted extends Error {}

/**
 * The station, not the DUT, cannot go on: no token, an emitter not responding, a configuration
 * error. The run ends `interrupted` (the unit is not failed for the station's fault); with
 * `haltSlot` the slot also stops taking DUTs until the cause is fixed.
 */
export class StationFault extends Error {
  constructor(
    message: string,
    readonly haltSlot = false,
  ) {
    super(message);
    this.name = 'StationFault';
  }
}
