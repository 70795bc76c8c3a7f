import type { AddressInfo, Server } from "node:net";

/** Starts `server` listening and resolves with the address it got (port 0: the one the OS chose). */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
