#!/usr/bin/env bash
# Build the engine (plain javac, Java 17; org.json from Debian's libandroid-json-java, which has the
# same classes as Android's built-in org.json) and, with "test", run its JUnit 5 suite.
#   android-demo/engine/build.sh          compile to build/pocketmt-engine.jar
#   android-demo/engine/build.sh test     also compile and run src/test/java; prints "java: N passed, N failed"
set -euo pipefail
cd "$(dirname "$0")"
JSON_JAR=${POCKETMT_JSON_JAR:-/usr/share/java/com.android.json.jar}
JUNIT_JAR=${POCKETMT_JUNIT_JAR:-/usr/share/java/junit-platform-console-standalone.jar}
for jar in "$JSON_JAR"; do
  [ -f "$jar" ] || { echo "pocketmt-java: $jar not found (apt-get install libandroid-json-java)" >&2; exit 2; }
done
command -v javac >/dev/null || { echo "pocketmt-java: javac not found (install OpenJDK 17)" >&2; exit 2; }
mkdir -p build
# several shells (engineers, tests, the pocketmt-java launcher) may build at once: one at a time, and
# the jar is replaced by a rename, so a JVM already running the old jar keeps reading a whole file
exec 9>build/.lock
flock 9
rm -rf build/classes && mkdir -p build/classes
find src/main/java -name '*.java' > build/sources.txt
javac --release 17 -encoding UTF-8 -Xlint:-options -d build/classes -cp "$JSON_JAR" @build/sources.txt
[ -d src/main/resources ] && cp -r src/main/resources/. build/classes/
jar --create --file build/pocketmt-engine.jar.tmp -C build/classes .
mv -f build/pocketmt-engine.jar.tmp build/pocketmt-engine.jar
if [ "${1:-}" = test ]; then
  [ -f "$JUNIT_JAR" ] || { echo "pocketmt-java: $JUNIT_JAR not found (apt-get install junit5)" >&2; exit 2; }
  rm -rf build/test-classes build/test-reports && mkdir -p build/test-classes
  find src/test/java -name '*.java' > build/test-sources.txt
  javac --release 17 -encoding UTF-8 -Xlint:-options -d build/test-classes \
    -cp "build/pocketmt-engine.jar:$JSON_JAR:$JUNIT_JAR" @build/test-sources.txt
  [ -d src/test/resources ] && cp -r src/test/resources/. build/test-classes/
  set +e
  java -jar "$JUNIT_JAR" --disable-banner --details=summary --reports-dir build/test-reports \
    -cp "build/test-classes:build/pocketmt-engine.jar:$JSON_JAR" --scan-classpath build/test-classes
  rc=$?
  set -e
  python3 - build/test-reports <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
tests = failed = skipped = 0
for f in pathlib.Path(sys.argv[1]).glob("*.xml"):
    for suite in ET.parse(f).getroot().iter("testsuite"):
        tests += int(suite.get("tests", 0)); skipped += int(suite.get("skipped", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
print(f"java: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
PY
  exit $rc
fi
