// @serialport/binding-mock ships types its package.json "exports" does not expose to NodeNext
// resolution; these are the parts the tests use, as declared in its dist/index.d.ts.
declare module '@serialport/binding-mock' {
  export interface MockPortBinding {
    readonly recording: Buffer;
    lastWrite: Buffer | null;
    isOpen: boolean;
    emitData(data: Buffer | string): void;
    read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }>;
    write(buffer: Buffer): Promise<void>;
  }
  export const MockBinding: {
    createPort(path: string, opt?: { echo?: boolean; record?: boolean; readyData?: Buffer }): void;
    reset(): void;
  };
}
