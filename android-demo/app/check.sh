#!/usr/bin/env bash
# What can be checked of the Android app without the Android SDK or the ExecuTorch AAR:
#   1. the engine's sources compile (javac --release 17, Debian's org.json = Android's org.json API);
#   2. the app's Java sources compile against app/stubs (compile-only stubs of the Android and
#      ExecuTorch classes the app uses, written from their documented signatures; never shipped);
#   3. the JVM tests in app/src/test/java pass (ModuleStep's KV-cache bookkeeping against a fake
#      program that checks the step contract), run with the JUnit 5 console launcher.
# It does not build an APK, run on a device, or load a .pte: see android-demo/README.md.
#   android-demo/app/check.sh
set -euo pipefail
cd "$(dirname "$0")"
JSON_JAR=${POCKETMT_JSON_JAR:-/usr/share/java/com.android.json.jar}
JUNIT_JAR=${POCKETMT_JUNIT_JAR:-/usr/share/java/junit-platform-console-standalone.jar}
for jar in "$JSON_JAR" "$JUNIT_JAR"; do
  [ -f "$jar" ] || { echo "check.sh: $jar not found (apt-get install libandroid-json-java junit5)" >&2; exit 2; }
done
OUT=build/check
rm -rf "$OUT" && mkdir -p "$OUT"
JAVAC=(javac --release 17 -encoding UTF-8 -Xlint:all -Xlint:-options -Xlint:-serial -Werror)

# The engine is compiled here, into the app's build folder, rather than by engine/build.sh, so this
# check never races another build of engine/build.
find ../engine/src/main/java -name '*.java' > "$OUT/engine-sources.txt"
# (with engine/build.sh's flags: its warnings are its own business)
javac --release 17 -encoding UTF-8 -Xlint:-options -d "$OUT/engine" -cp "$JSON_JAR" @"$OUT/engine-sources.txt"
[ -d ../engine/src/main/resources ] && cp -r ../engine/src/main/resources/. "$OUT/engine/"
echo "check: engine compiled ($(wc -l < "$OUT/engine-sources.txt") sources)"

find stubs -name '*.java' > "$OUT/stub-sources.txt"
"${JAVAC[@]}" -d "$OUT/stubs" @"$OUT/stub-sources.txt"
echo "check: stubs compiled ($(wc -l < "$OUT/stub-sources.txt") classes: $(find stubs -name '*.java' \
  | sed 's|^stubs/||; s|\.java$||; s|/|.|g' | sort | tr '\n' ' '))"

find src/main/java -name '*.java' > "$OUT/app-sources.txt"
"${JAVAC[@]}" -d "$OUT/app" -cp "$OUT/stubs:$OUT/engine:$JSON_JAR" @"$OUT/app-sources.txt"
# the app's own classes only: a stub must never end up among them
if find "$OUT/app" -name '*.class' | grep -v "^$OUT/app/org/pocketmt/demo/" | grep -q .; then
  echo "check: classes outside org.pocketmt.demo in the app output" >&2; exit 1
fi
echo "check: app compiled against the stubs ($(sed 's|.*/||' "$OUT/app-sources.txt" | sort | tr '\n' ' '))"

find src/test/java -name '*.java' > "$OUT/test-sources.txt"
"${JAVAC[@]}" -d "$OUT/test" -cp "$OUT/app:$OUT/stubs:$OUT/engine:$JSON_JAR:$JUNIT_JAR" @"$OUT/test-sources.txt"
set +e
java -Dpocketmt.repo="$(cd ../.. && pwd)" -jar "$JUNIT_JAR" --disable-banner --disable-ansi-colors --details=tree --reports-dir "$OUT/test-reports" \
  -cp "$OUT/test:$OUT/app:$OUT/stubs:$OUT/engine:$JSON_JAR" --scan-classpath "$OUT/test"
rc=$?
set -e
python3 - "$OUT/test-reports" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
tests = failed = skipped = 0
for f in pathlib.Path(sys.argv[1]).glob("*.xml"):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0)); skipped += int(suite.get("skipped", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
print(f"check: app JVM tests: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
exit $rc
