import net from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { UnavailableError } from "../../src/core/errors.js";
import { runMigrations } from "../../src/stores/migrations.js";
import { createPostgresPool } from "../../src/stores/postgres-pool.js";

// Failures that carry no SQLSTATE, errno or Slonik class (pg's "timeout expired", a connection that
// ends): the code tells them apart by what it was doing, never by their message text.

const logger = pino({ level: "silent" });
const servers: Array<{ server: net.Server; sockets: Set<net.Socket> }> = [];

afterEach(async () => {
  for (const { server, sockets } of servers.splice(0)) {
    sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A TCP server that accepts connections and then does what `onConnection` says (or nothing). */
async function listen(onConnection: (socket: net.Socket) => void = () => undefined): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    onConnection(socket);
  });
  servers.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

describe("connecting to a server that does not speak Postgres", () => {
  it("createPostgresPool: a server that never answers is UnavailableError after the connection timeout", async () => {
    const port = await listen();
    const error = await createPostgresPool({
      url: `postgres://dq:secret-password@127.0.0.1:${port}/postgres`,
      maximumPoolSize: 1,
      logger,
      connectionTimeoutMs: 200,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(`cannot connect to 127.0.0.1:${port}/postgres`);
    expect((error as Error).message).not.toContain("secret-password");
  });

  it("createPostgresPool: a server that hangs up is UnavailableError", async () => {
    const port = await listen((socket) => socket.end());
    const error = await createPostgresPool({
      url: `postgres://dq:dq@127.0.0.1:${port}/postgres`,
      maximumPoolSize: 1,
      logger,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UnavailableError);
  });

  it("runMigrations: a server that hangs up is UnavailableError, so start-up retries it", async () => {
    const port = await listen((socket) => socket.end());
    const error = await runMigrations({ databaseUrl: `postgres://dq:dq@127.0.0.1:${port}/postgres`, logger }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });
});
