package org.pocketmt.engine.cli;

import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.StepFactory;
import org.pocketmt.engine.TermResult;
import org.pocketmt.engine.TranslateOptions;
import org.pocketmt.engine.Translation;
import org.pocketmt.engine.Translator;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.glossary.Glossary;
import org.pocketmt.engine.glossary.GlossaryException;
import org.pocketmt.engine.glossary.GlossaryReader;
import org.pocketmt.engine.pipe.PipeException;
import org.pocketmt.engine.pipe.PipeStepFactory;

/**
 * {@code pocketmt-java translate}: {@code pocketmt translate} (sdk/cli.py {@code cmd_translate}) on
 * the Java engine, with the same flags, output lines, JSON keys and warnings; each line is printed as
 * soon as it is translated. Errors are one line on stderr, exit 2 ({@code bench}: timings for
 * benchmarks/bench_java_engine.py).
 */
public final class Main {
    static final String PROG = "pocketmt-java";
    static final String USAGE = "usage: " + PROG + " translate [--bundle B] [--pair P] [--beam N] [--max-new-tokens N]"
            + " [--glossary F] [--on-conflict error|first|last] [--backend onnx|executorch] [--json] [TEXT ...]";

    private final PrintStream out;
    private final PrintStream err;
    private final InputStream in;
    private final Function<String, StepFactory> steps; // backend -> model; tests put a fake model here

    Main(PrintStream out, PrintStream err, InputStream in, Function<String, StepFactory> steps) {
        this.out = out;
        this.err = err;
        this.in = in;
        this.steps = steps;
    }

    public static void main(String[] argv) {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
        int code = new Main(out, err, System.in, PipeStepFactory::new).run(Arrays.asList(argv));
        out.flush();
        System.exit(code);
    }

    int run(List<String> argv) {
        if (argv.isEmpty() || !(argv.get(0).equals("translate") || argv.get(0).equals("bench"))) {
            err.println(USAGE);
            err.println(PROG + ": error: " + (argv.isEmpty() ? "the command is required: translate"
                    : "invalid choice: '" + argv.get(0) + "' (choose from 'translate')"));
            return 2;
        }
        boolean bench = argv.get(0).equals("bench");
        Args args;
        try {
            args = Args.parse(argv.subList(1, argv.size()), bench);
        } catch (Args.UsageException e) {
            err.println(USAGE);
            err.println(PROG + " " + argv.get(0) + ": error: " + e.getMessage());
            return 2;
        }
        try {
            return bench ? Bench.run(args, in, out) : translate(args);
        } catch (PocketMtException | GlossaryException e) {
            return error(e.getMessage(), 2);
        } catch (PipeException e) {
            return error(e.getMessage(), 2);
        }
    }

    private int error(String message, int code) {
        err.println(PROG + ": error: " + message);
        return code;
    }

    private void warn(String message) {
        err.println(PROG + ": warning: " + message);
    }

    /** The bundle of --bundle, else the built-in one of --pair (the launcher says where those live). */
    static Path bundlePath(Args args) throws PocketMtException {
        if (args.bundle != null) {
            return Path.of(args.bundle);
        }
        String models = System.getProperty("pocketmt.models", System.getenv("POCKETMT_MODELS"));
        if (models == null) {
            throw new PocketMtException("no --bundle given and no built-in models folder known (set POCKETMT_MODELS)");
        }
        return Path.of(models, args.pair);
    }

    static Glossary loadGlossary(Args args, Manifest.Model model) throws GlossaryException {
        return GlossaryReader.load(Path.of(args.glossary), model.sourceLang(), model.targetLang(), args.onConflict);
    }

    static TranslateOptions options(Args args) {
        return TranslateOptions.defaults().withBeam(args.beam).withMaxNewTokens(args.maxNewTokens);
    }

    private int translate(Args args) throws PocketMtException, GlossaryException {
        try (Translator translator = Translator.open(bundlePath(args), steps.apply(args.backend), args.backend)) {
            TranslateOptions options = options(args);
            translator.searchConfig(options); // reject bad options before any work
            if (args.glossary != null) {
                Glossary glossary = loadGlossary(args, translator.manifest().model);
                glossary.warnings().forEach(this::warn);
                options = options.withGlossary(glossary);
            }
            Lines lines = args.texts.isEmpty() ? new Lines(in) : null;
            int number = 0;
            for (String text : (Iterable<String>) () -> lines != null ? lines : args.texts.iterator()) {
                number++;
                Translation result = translator.translate(text, options);
                for (String w : result.warnings()) {
                    warn("input " + number + ": " + w);
                }
                if (result.constraintsDropped()) {
                    warn("input " + number + ": the glossary terms could not all be produced; translated without them");
                }
                out.println(args.json ? json(result) : result.text());
                out.flush();
            }
            if (lines != null && lines.error != null) {
                throw lines.error;
            }
        }
        return 0;
    }

    /** The object {@code pocketmt translate --json} prints, with its keys in its order. */
    static String json(Translation r) {
        try {
            JSONArray ids = new JSONArray();
            for (int id : r.tokenIds()) {
                ids.put(id);
            }
            JSONArray terms = new JSONArray();
            for (TermResult t : r.terms()) {
                terms.put(new JSONObject().put("source", t.source()).put("required", new JSONArray(t.required()))
                        .put("produced", t.produced() == null ? JSONObject.NULL : t.produced())
                        .put("spelling", t.spelling()));
            }
            return new JSONObject()
                    .put("source", r.source())
                    .put("text", r.text())
                    .put("token_ids", ids)
                    .put("score", r.score())
                    .put("finished", r.finished())
                    .put("segments", r.segments())
                    .put("timings_ms", new JSONObject().put("tokenize", r.timings().tokenizeMs())
                            .put("encode", r.timings().encodeMs()).put("decode", r.timings().decodeMs())
                            .put("total", r.timings().totalMs()))
                    .put("steps", r.timings().steps())
                    .put("terms", terms)
                    .put("constraints_dropped", r.constraintsDropped())
                    .put("short_output", new JSONArray(r.shortOutput()))
                    .put("coverage_lost", new JSONArray(r.coverageLost()))
                    .toString();
        } catch (JSONException e) {
            throw new IllegalStateException("a finite score and strings always make valid JSON", e);
        }
    }

    /**
     * stdin line by line as {@code read_stdin_lines} reads it (split at "\n", one trailing "\r"
     * dropped), but lazily, so each line is translated as it arrives. Invalid UTF-8 ends the input
     * with the error {@code pocketmt} gives for it.
     */
    static final class Lines implements java.util.Iterator<String> {
        private final InputStream in;
        private String next;
        private int number;
        PocketMtException error;

        Lines(InputStream in) {
            this.in = in;
        }

        @Override
        public boolean hasNext() {
            if (next == null && error == null) {
                next = read();
            }
            return next != null;
        }

        @Override
        public String next() {
            if (!hasNext()) {
                throw new java.util.NoSuchElementException();
            }
            String s = next;
            next = null;
            return s;
        }

        private String read() {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            try {
                int b;
                while ((b = in.read()) >= 0 && b != '\n') {
                    line.write(b);
                }
                if (b < 0 && line.size() == 0) {
                    return null;
                }
            } catch (IOException e) {
                error = new PocketMtException("cannot read stdin: " + e.getMessage());
                return null;
            }
            number++;
            byte[] raw = line.toByteArray();
            CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
            ByteBuffer bytes = ByteBuffer.wrap(raw);
            CharBuffer chars = CharBuffer.allocate(raw.length + 1);
            if (decoder.decode(bytes, chars, true).isError()) {
                int at = bytes.position();
                error = new PocketMtException(String.format("stdin line %d: invalid UTF-8 (byte 0x%02x at column %d)",
                        number, raw[at] & 0xff, at + 1));
                return null;
            }
            decoder.flush(chars);
            String s = chars.flip().toString();
            return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
        }
    }

    static List<String> readAll(InputStream in) throws PocketMtException {
        Lines lines = new Lines(in);
        List<String> all = new ArrayList<>();
        lines.forEachRemaining(all::add);
        if (lines.error != null) {
            throw lines.error;
        }
        return all;
    }
}
