#!/usr/bin/env python
"""Certify the npm package imsdk-restapi-nodejs-es6-sdk, a real client nobody here wrote (issue 13).

    python scripts/certify_npm_client.py [--version 1.0.1] [--report-dir DIR]

Installs the package on demand into scripts/.work/npm-client (never committed), writes a thin Node adapter
that hands each scenario's input to the package's `request('sns', 'friend_import', body)` unmodified, and
runs `timconform certify-client` on it. The package hard-codes https://console.tim.qq.com and goes through
HTTPS_PROXY with axios 0.16 (TLS to the proxy, the URL in absolute form), and it signs legacy (v1) UserSigs
with an ECDSA key file: the adapter makes a throwaway key, since the app's v2 secret key cannot be one.
Prints the grade rule by rule.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work" / "npm-client"
PACKAGE = "imsdk-restapi-nodejs-es6-sdk"
ADAPTER = r"""
// certify-client adapter for imsdk-restapi-nodejs-es6-sdk, used unmodified.
const fs = require('fs'); const os = require('os'); const path = require('path'); const crypto = require('crypto');
const TIMRestApi = require('imsdk-restapi-nodejs-es6-sdk');
(async () => {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPath = path.join(os.tmpdir(), `timconform-npm-key-${process.pid}.pem`);
  fs.writeFileSync(keyPath, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
  const api = new TIMRestApi({ sdkAppid: process.env.TIMCONFORM_SDKAPPID, identifier: process.env.TIMCONFORM_IDENTIFIER,
                               accountType: '0', privateKeyPath: keyPath, expireAfter: 86400 });
  fs.unlinkSync(keyPath);
  api.init();
  let data = JSON.parse(fs.readFileSync(process.env.TIMCONFORM_SCENARIO_INPUT, 'utf8'));
  if (!Array.isArray(data)) data = [data];
  let ok = true;
  for (const one of data) {
    try {
      const body = (await api.request('sns', 'friend_import', one)).data;
      if (body.ActionStatus !== 'OK' || (body.ResultItem || []).some(i => i.ResultCode !== 0)) ok = false;
      console.log(JSON.stringify(body).slice(0, 300));
    } catch (error) {
      ok = false;
      console.log('error', error.message);
    }
  }
  process.exit(ok ? 0 : 1);
})();
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="1.0.1")
    parser.add_argument("--report-dir", type=Path)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    if not (WORK / "node_modules" / PACKAGE).is_dir():
        subprocess.run(["npm", "install", "--silent", "--prefix", str(WORK), f"{PACKAGE}@{args.version}"], check=True,
                       timeout=600)
    (WORK / "adapter.js").write_text(ADAPTER, encoding="utf-8")
    reports = args.report_dir or Path(tempfile.mkdtemp(prefix="npm-client-"))
    done = subprocess.run([sys.executable, "-m", "timconform.cli", "certify-client", "--report-dir", str(reports),
                           "--quiet", "--", "node", "adapter.js"], cwd=WORK, capture_output=True, text=True,
                          timeout=1800)
    print(done.stdout.splitlines()[0] if done.stdout else done.stderr)
    results = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    if results["meta"].get("root_cause"):
        print("root cause:", results["meta"]["root_cause"])
    for rule in results["rules"]:
        why = rule["reason"] or (rule["evidence"][0]["message"] if rule["evidence"] else "")
        print(f"  {rule['verdict']:<5} {rule['id']:<26} {why[:170]}")
    print(f"exit code {done.returncode}; network: {results['meta'].get('isolation')}; reports in {reports}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
