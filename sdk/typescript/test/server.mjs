// A real ephemail for the tests: the binary the Rust build made, on free ports, with its
// embedded PostgreSQL in a fresh data directory, and a real SMTP client to send it mail.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import nodemailer from "nodemailer";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function ephemailBinary() {
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repo, "target");
  return process.env.EPHEMAIL_BIN ?? path.join(target, "debug", "ephemail");
}

// Two free ports, held open together while they are picked: one probe closed before the next
// opens can be handed the same port twice.
async function twoFreePorts() {
  const probes = [net.createServer(), net.createServer()];
  await Promise.all(probes.map((probe) => new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve))));
  const ports = probes.map((probe) => probe.address().port);
  await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  return ports;
}

export class EphemailServer {
  static async start(extraArgs = []) {
    // Under /tmp and world-readable: as root, the cluster runs as the `postgres` user.
    const dataDir = mkdtempSync("/tmp/ephemail-sdk-ts-");
    chmodSync(dataDir, 0o755);
    const server = new EphemailServer(dataDir, ...(await twoFreePorts()), extraArgs);
    await server.run();
    return server;
  }

  constructor(dataDir, smtpPort, httpPort, extraArgs) {
    this.dataDir = dataDir;
    this.smtpPort = smtpPort;
    this.httpPort = httpPort;
    this.extraArgs = extraArgs;
    this.url = `http://127.0.0.1:${httpPort}`;
    this.smtp = nodemailer.createTransport({ host: "127.0.0.1", port: smtpPort, secure: false, ignoreTLS: true });
  }

  async run() {
    const args = ["serve", "--data-dir", this.dataDir, "--smtp-addr", `127.0.0.1:${this.smtpPort}`,
      "--http-addr", `127.0.0.1:${this.httpPort}`, ...this.extraArgs];
    this.process = spawn(ephemailBinary(), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
    let stderr = "";
    this.process.stderr.on("data", (chunk) => { stderr += chunk; });
    this.exited = new Promise((resolve) => this.process.once("exit", resolve));
    await new Promise((resolve, reject) => {
      let stdout = "";
      const timer = setTimeout(() => reject(new Error(`ephemail did not start in 90 s:\n${stdout}\n${stderr}`)), 90_000);
      this.process.stdout.on("data", (chunk) => {
        stdout += chunk;
        // The admin key of tenant `dev` is printed once, at the first start.
        const key = /^api key\s+(\S+)/m.exec(stdout);
        if (key) this.apiKey = key[1];
        if (stdout.includes("ephemail is ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.process.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`ephemail exited with ${code}:\n${stdout}\n${stderr}`));
      });
    });
  }

  async restart() {
    await this.halt();
    await this.run();
  }

  async halt() {
    this.process.kill("SIGTERM");
    await this.exited;
  }

  async stop() {
    this.smtp.close();
    await this.halt();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Sends a mail over SMTP; `raw` sends exactly those bytes. */
  async send({ to, subject = "Hello", text = "Hello.", html, attachments, raw }) {
    const envelope = { from: "sender@example.com", to };
    if (raw !== undefined) {
      await this.smtp.sendMail({ envelope, raw });
    } else {
      await this.smtp.sendMail({ from: "Sender <sender@example.com>", to, subject, text, html, attachments });
    }
  }
}
