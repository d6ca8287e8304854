package org.pocketmt.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pocketmt.engine.StepFactory;
import org.pocketmt.engine.search.Step;

/** pocketmt-java's command line: argparse's errors, one-line failures with exit 2, and the output format. */
class MainTest {
    // build.sh runs the tests in android-demo/engine: the built-in bundle is two folders up
    static final String BUNDLE = "../../sdk/models/en-de";

    @TempDir
    Path tmp;

    /** A model that always prefers EOS, so every text translates to "" after one step. */
    static final StepFactory EOS_FIRST = bundle -> new Step() {
        final int vocab = bundle.manifest().model.vocabSize();
        int rows;

        @Override
        public void start(int[] sourceIds, int rows) {
            this.rows = rows;
        }

        @Override
        public float[] step(int[] tokens) {
            float[] lp = new float[rows * vocab];
            Arrays.fill(lp, -20f);
            for (int r = 0; r < rows; r++) {
                lp[r * vocab] = -0.01f; // EOS is id 0 in the built-in bundles
            }
            return lp;
        }

        @Override
        public void reorder(int[] parents) {}

        @Override
        public int vocabSize() {
            return vocab;
        }
    };

    record Run(int code, String out, String err) {}

    static Run run(byte[] stdin, String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = new Main(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), new ByteArrayInputStream(stdin),
                backend -> EOS_FIRST).run(List.of(argv));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    static Run run(String... argv) {
        return run(new byte[0], argv);
    }

    static void usageError(Run r, String message) {
        assertEquals(2, r.code());
        assertEquals("", r.out());
        assertTrue(r.err().startsWith("usage: pocketmt-java translate"), r.err());
        assertTrue(r.err().strip().endsWith("error: " + message), r.err());
    }

    @Test
    void badArgumentsAreArgparsesErrorsWithExit2() {
        usageError(run(), "the command is required: translate");
        usageError(run("translit"), "invalid choice: 'translit' (choose from 'translate')");
        usageError(run("translate", "--bundel", "x"), "unrecognized arguments: --bundel");
        usageError(run("translate", "--beam", "four"), "argument --beam: invalid int value: 'four'");
        usageError(run("translate", "--max-new-tokens"), "argument --max-new-tokens: expected one argument");
        usageError(run("translate", "--bundle", "--json"), "argument --bundle: expected one argument");
        usageError(run("translate", "--backend", "tflite"),
                "argument --backend: invalid choice: 'tflite' (choose from 'executorch', 'onnx')");
        usageError(run("translate", "--on-conflict=any"),
                "argument --on-conflict: invalid choice: 'any' (choose from 'error', 'first', 'last')");
        usageError(run("translate", "--json=yes"), "argument --json: ignored explicit argument 'yes'");
    }

    static void oneLineError(Run r, String start) {
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("pocketmt-java: error: " + start), r.err());
    }

    @Test
    void badBundlesOptionsAndGlossariesAreOneLineErrors() throws Exception {
        oneLineError(run("translate", "--bundle", tmp.resolve("none").toString(), "x"), "bundle folder not found");
        oneLineError(run("translate", "--bundle", BUNDLE, "--beam", "9", "x"),
                "beam size 9 is outside 1..4 (this bundle's max batch)");
        oneLineError(run("translate", "--bundle", BUNDLE, "--max-new-tokens", "0", "x"),
                "max new tokens 0 is outside 1..128");
        // a bundle with ONNX graphs only (the built-in ones may ship either): en-de's manifest without its .pte
        JSONObject manifest = new JSONObject(Files.readString(Path.of(BUNDLE, "manifest.json")));
        manifest.getJSONObject("graphs").remove("executorch");
        Path onnxOnly = Files.createDirectories(tmp.resolve("onnx-only"));
        Files.writeString(onnxOnly.resolve("manifest.json"), manifest.toString());
        oneLineError(run("translate", "--bundle", onnxOnly.toString(), "--backend", "executorch", "x"),
                onnxOnly + ": bundle has no executorch graphs");
        oneLineError(run("translate", "--bundle", BUNDLE, "--glossary", tmp.resolve("g.tsv").toString(), "x"),
                "glossary not found");
        Path conflict = Files.writeString(tmp.resolve("c.tsv"), "dog\tHund\ndog\tKöter\n");
        oneLineError(run("translate", "--bundle", BUNDLE, "--glossary", conflict.toString(), "x"), conflict
                + ": conflicting entries");
        assertEquals(0, run("translate", "--bundle", BUNDLE, "--glossary", conflict.toString(), "--on-conflict",
                "last", "x").code());
    }

    @Test
    void printsOneLinePerInputLineAndTheJsonKeysOfPocketmt() throws Exception {
        Run r = run("A dog.\n\nTwo men.\r\n".getBytes(StandardCharsets.UTF_8), "translate", "--bundle", BUNDLE);
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("", "", ""), r.out().lines().toList());
        Run j = run("translate", "--bundle", BUNDLE, "--json", "A dog.", "--beam=1");
        JSONObject o = new JSONObject(j.out().strip());
        // the keys of Translation.to_json in runtime/translator.py, section 1.5's checks last
        List<String> keys = List.of("source", "text", "token_ids", "score", "finished", "segments", "timings_ms",
                "steps", "terms", "constraints_dropped", "short_output", "coverage_lost");
        for (String k : keys) {
            assertTrue(o.has(k), k);
        }
        assertEquals(keys.size(), o.length());
        assertEquals("A dog.", o.getString("source"));
        assertEquals("[0]", o.getJSONArray("token_ids").toString());
        assertEquals("[]", o.getJSONArray("short_output").toString()); // 3 source tokens: never flagged
        assertEquals("[]", o.getJSONArray("coverage_lost").toString());
        // Python, with the same EOS-first model, prints "short_output": [0], "coverage_lost": [] here: piece 1
        // has 10 source tokens and 0 target tokens, piece 2 ("Two men.") is under six source tokens
        Run two = run("translate", "--bundle", BUNDLE, "--json", "A dog runs across the big green park. Two men.",
                "--beam=1");
        JSONObject t = new JSONObject(two.out().strip());
        assertEquals(2, t.getInt("segments"));
        assertEquals("[0]", t.getJSONArray("short_output").toString());
        assertEquals("[]", t.getJSONArray("coverage_lost").toString());
    }

    /** EOS_FIRST, but every log-probability of step {@code badStep} is {@code bad}. */
    static StepFactory broken(int badStep, float bad) {
        return bundle -> new Step() {
            final Step inner = EOS_FIRST.open(bundle);
            int steps;

            @Override
            public void start(int[] sourceIds, int rows) {
                inner.start(sourceIds, rows);
                steps = 0;
            }

            @Override
            public float[] step(int[] tokens) {
                float[] lp = inner.step(tokens);
                if (steps++ == badStep) Arrays.fill(lp, bad);
                return lp;
            }

            @Override
            public void reorder(int[] parents) {
                inner.reorder(parents);
            }

            @Override
            public int vocabSize() {
                return inner.vocabSize();
            }
        };
    }

    @Test
    void aBrokenModelIsAOneLineErrorNotAnEmptyTranslation() {
        for (String beam : new String[] {"--beam=1", "--beam=4"}) {
            for (float bad : new float[] {Float.NaN, Float.NEGATIVE_INFINITY}) {
                ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
                int code = new Main(new PrintStream(out, true, StandardCharsets.UTF_8),
                        new PrintStream(err, true, StandardCharsets.UTF_8), new ByteArrayInputStream(new byte[0]),
                        backend -> broken(0, bad)).run(List.of("translate", "--bundle", BUNDLE, beam, "A dog."));
                Run r = new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
                oneLineError(r, Float.isNaN(bad)
                        ? "the model's log-probabilities at step 0 are not finite (NaN or +inf): its weights or graphs are broken"
                        : "no token has a finite score at step 0: ");
                assertEquals("", r.out(), beam + " " + bad);
            }
        }
    }

    @Test
    void invalidUtf8OnStdinNamesTheLineAfterPrintingTheLinesBefore() {
        byte[] stdin = {'o', 'k', '\n', 'a', 'b', (byte) 0xff, '\n'};
        Run r = run(stdin, "translate", "--bundle", BUNDLE);
        assertEquals(2, r.code());
        assertEquals("\n", r.out()); // streamed: the first line was translated before the second was read
        assertEquals("pocketmt-java: error: stdin line 2: invalid UTF-8 (byte 0xff at column 3)", r.err().strip());
    }
}
