#!/usr/bin/env bash
# The project's test command: the Python suite (which includes the Java engine's parity tests against the
# Python runtime), then the Java engine's own JUnit suite, then the Android app's JVM checks
# (android-demo/app/check.sh: its sources against compile-only stubs, ModuleStep on the built-in .pte);
# the last line counts all three.
#   scripts/test.sh [pytest args...]
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
python -m pytest -q --junitxml=out/pytest.xml "$@"
py_rc=$?
android-demo/engine/build.sh test | tee out/java-tests.log
java_rc=${PIPESTATUS[0]}
POCKETMT_APP_PTE_BUNDLE=${POCKETMT_APP_PTE_BUNDLE:-$PWD/sdk/models/en-de} android-demo/app/check.sh | tee out/app-tests.log
app_rc=${PIPESTATUS[0]}
python - out/pytest.xml out/java-tests.log out/app-tests.log <<'PY'
import re, sys, xml.etree.ElementTree as ET
passed = failed = skipped = 0
try:
    for s in ET.parse(sys.argv[1]).getroot().iter("testsuite"):
        t, f = int(s.get("tests", 0)), int(s.get("failures", 0)) + int(s.get("errors", 0))
        k = int(s.get("skipped", 0))
        passed, failed, skipped = passed + t - f - k, failed + f, skipped + k
except (OSError, ET.ParseError):
    failed += 1  # pytest wrote no report: count it as a failure
java = re.findall(r"^java: (\d+) passed, (\d+) failed, (\d+) skipped$", open(sys.argv[2]).read(), re.M)
if java:
    passed, failed, skipped = passed + int(java[-1][0]), failed + int(java[-1][1]), skipped + int(java[-1][2])
else:
    failed += 1  # the Java suite did not run to its summary
app = re.findall(r"^check: app JVM tests: (\d+) passed, (\d+) failed, (\d+) skipped$", open(sys.argv[3]).read(), re.M)
if app:
    passed, failed, skipped = passed + int(app[-1][0]), failed + int(app[-1][1]), skipped + int(app[-1][2])
else:
    failed += 1  # the app's checks did not run to their summary
print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
PY
[ "$py_rc" -eq 0 ] && [ "$java_rc" -eq 0 ] && [ "$app_rc" -eq 0 ]
