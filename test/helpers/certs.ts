/** Test certificates made with the system's openssl: a cluster CA and a node certificate it signs. */
import { execFileSync } from "node:child_process";
import path from "node:path";

export interface CertSet {
  ca: string;
  cert: string;
  key: string;
}

const openssl = (args: string[], cwd: string) => execFileSync("openssl", args, { cwd, stdio: "pipe", timeout: 30_000 });

/** A CA (`<name>-ca.pem`) and a certificate/key it signed, in `dir`. */
export function makeCerts(dir: string, name: string): CertSet {
  const f = (s: string) => path.join(dir, `${name}-${s}.pem`);
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name} test CA`, "-keyout", f("ca-key"), "-out", f("ca")], dir);
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name} node`, "-keyout", f("key"), "-out", f("csr")], dir);
  openssl(["x509", "-req", "-in", f("csr"), "-CA", f("ca"), "-CAkey", f("ca-key"), "-CAcreateserial", "-days", "2", "-out", f("cert")], dir);
  return { ca: f("ca"), cert: f("cert"), key: f("key") };
}
