"""Vault unlock time against the scrypt cost.

Figure: seconds to unlock a passphrase vault (read the file, scrypt, HKDF, check
the key, AES-256-GCM-decrypt the secrets: ``Vault(dir, passphrase=...).names()``)
for candidate costs n = 2**14 .. 2**18 (r=8, p=1), median of --repeat runs.
Target: 0.25-0.5 s for the default (``printmanager_vault.kdf.DEFAULT_SCRYPT``).

Baselines measured in the same run, on the same passphrase and salt:
- one SHA-256 of the passphrase+salt: what a guess costs an attacker when a tool
  stores a fast hash (the floor);
- PBKDF2-HMAC-SHA256 at 600,000 iterations (OWASP's 2023 figure, the setting of
  common password managers): the peer, CPU-hard only, no memory cost.

The "guess cost" column is each figure divided by the SHA-256 baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import row  # noqa: E402

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC  # noqa: E402

from printmanager_vault import Vault, kdf  # noqa: E402

PASSPHRASE = "correct horse battery staple"


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def unlock_time(params: kdf.ScryptParams, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        kdf.set_scrypt_params_for_tests(params)  # only to create vaults at each candidate cost
        try:
            Vault(tmp, backend="passphrase", passphrase=PASSPHRASE, prompt=None).set(
                "sync.s3.secret_access_key", "x" * 40
            )
        finally:
            kdf.set_scrypt_params_for_tests(None)
        return median_seconds(lambda: Vault(tmp, passphrase=PASSPHRASE, prompt=None).names(), repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--min-log-n", type=int, default=14)
    parser.add_argument("--max-log-n", type=int, default=18)
    args = parser.parse_args()

    salt = os.urandom(kdf.SALT_BYTES)
    data = PASSPHRASE.encode() + salt
    sha = median_seconds(lambda: hashlib.sha256(data).digest(), max(args.repeat, 1000))
    pbkdf2 = median_seconds(
        lambda: PBKDF2HMAC(hashes.SHA256(), 32, salt, 600_000).derive(PASSPHRASE.encode()), args.repeat
    )
    print(f"cpu count {os.cpu_count()}, python {sys.version.split()[0]}, repeat {args.repeat} (median)")
    print(f"{'figure':<44} {'seconds':>14}   {'guess cost vs SHA-256':<40} verdict")
    row("baseline: SHA-256(passphrase+salt)", f"{sha:.7f}", "1x", "floor")
    row("baseline: PBKDF2-SHA256, 600k iterations", f"{pbkdf2:.3f}", f"{pbkdf2 / sha:,.0f}x (no memory cost)", "peer")
    default = kdf.DEFAULT_SCRYPT
    for log_n in range(args.min_log_n, args.max_log_n + 1):
        params = kdf.ScryptParams(n=2**log_n, r=8, p=1)
        seconds = unlock_time(params, args.repeat)
        mark = ", DEFAULT" if params == default else ""
        verdict = "in 0.25-0.5 s" if 0.25 <= seconds <= 0.5 else ("under 0.25 s" if seconds < 0.25 else "over 0.5 s")
        row(
            f"unlock, n=2**{log_n} r=8 p=1 ({params.memory >> 20} MiB{mark})",
            f"{seconds:.3f}",
            f"{seconds / sha:,.0f}x; {seconds / pbkdf2:.2f}x PBKDF2",
            verdict,
        )


if __name__ == "__main__":
    main()
