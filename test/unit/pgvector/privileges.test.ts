import { describe, expect, it } from "vitest";
import {
  requireCutoverPrivileges,
  requireRollbackPrivileges,
  type Privileges,
} from "../../../src/pgvector/privileges.js";

const appRole: Privileges = {
  role: "dq",
  database: "prod",
  superuser: false,
  tableOwner: "dq",
  ownsTable: true,
  extensionOwner: "postgres",
  ownsExtension: false,
  extensionAvailable: true,
  extensionTrusted: false,
  createOnDatabase: true,
};

describe("privilege checks of --cutover and --rollback", () => {
  it("cutover needs the table's owner and names it", () => {
    expect(() => requireCutoverPrivileges(appRole, "dq_embeddings")).not.toThrow();
    expect(() =>
      requireCutoverPrivileges({ ...appRole, ownsTable: false, tableOwner: "admin" }, "dq_embeddings"),
    ).toThrow(
      "--cutover drops a column of dq_embeddings, which only its owner may do: run it as admin (connected as dq)",
    );
  });

  it("rollback needs no extension privilege while the extension is installed", () => {
    expect(() => requireRollbackPrivileges(appRole, "dq_embeddings")).not.toThrow();
  });

  it("rollback that must create pgvector again asks for a superuser unless the extension is trusted", () => {
    const dropped = { ...appRole, extensionOwner: null };
    expect(() => requireRollbackPrivileges(dropped, "dq_embeddings")).toThrow(
      /needs a superuser .*run it as a superuser \(e\.g\. postgres\), or have one run CREATE EXTENSION vector in prod first \(connected as dq\)/,
    );
    expect(() => requireRollbackPrivileges({ ...dropped, superuser: true }, "dq_embeddings")).not.toThrow();
    expect(() => requireRollbackPrivileges({ ...dropped, extensionTrusted: true }, "dq_embeddings")).not.toThrow();
    expect(() =>
      requireRollbackPrivileges({ ...dropped, extensionTrusted: true, createOnDatabase: false }, "dq_embeddings"),
    ).toThrow(/superuser/);
    expect(() => requireRollbackPrivileges({ ...dropped, extensionAvailable: false }, "dq_embeddings")).toThrow(
      /not installed on this server/,
    );
    expect(() =>
      requireRollbackPrivileges({ ...dropped, ownsTable: false, tableOwner: "admin" }, "dq_embeddings"),
    ).toThrow(/run it as admin/);
  });
});
