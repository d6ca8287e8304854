package org.pocketmt.engine.cli;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.TranslateOptions;
import org.pocketmt.engine.Translation;
import org.pocketmt.engine.Translator;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.glossary.GlossaryException;
import org.pocketmt.engine.glossary.GlossaryReader;
import org.pocketmt.engine.pipe.PipeStepFactory;
import org.pocketmt.engine.pipe.RecordingStep;
import org.pocketmt.engine.pipe.ReplayStep;

/**
 * {@code pocketmt-java bench}: each stdin line translated on the pipe (first pass recorded, then
 * {@code --repeat} timed passes), then {@code --repeat} passes of the same search over the recorded
 * log-probs ({@link ReplayStep}): what the engine itself costs, without a model. Prints one JSON
 * object of per-sentence medians in milliseconds.
 */
final class Bench {
    private Bench() {}

    static int run(Args args, InputStream in, PrintStream out) throws PocketMtException, GlossaryException {
        List<String> texts = args.texts.isEmpty() ? Main.readAll(in) : args.texts;
        Path bundle = Main.bundlePath(args);
        TranslateOptions options = Main.options(args);
        RecordingStep[] recorder = new RecordingStep[1];
        PipeStepFactory pipe = new PipeStepFactory(args.backend);
        List<Translation> live = new ArrayList<>();
        double[][] pipeMs = new double[args.repeat][];
        try (Translator t = Translator.open(bundle, b -> recorder[0] = new RecordingStep(pipe.open(b)), args.backend)) {
            options = withGlossary(args, t, options);
            for (String text : texts) {
                live.add(t.translate(text, options)); // recorded, and warms up the JIT
            }
            recorder[0].stop();
            for (int r = 0; r < args.repeat; r++) {
                pipeMs[r] = pass(t, texts, options, null);
            }
        }
        ReplayStep replay = new ReplayStep(recorder[0].recording());
        double[][] searchMs = new double[args.repeat][];
        try (Translator t = Translator.open(bundle, b -> replay, args.backend)) {
            for (int r = 0; r < args.repeat; r++) {
                replay.rewind();
                searchMs[r] = pass(t, texts, options, live);
            }
        }
        try {
            JSONObject o = new JSONObject()
                    .put("sentences", texts.size())
                    .put("repeat", args.repeat)
                    .put("steps", live.stream().mapToInt(x -> x.timings().steps()).sum())
                    .put("pipe_ms", array(medians(pipeMs)))
                    .put("search_ms", array(medians(searchMs)));
            out.println(o.toString());
        } catch (JSONException e) {
            throw new IllegalStateException(e);
        }
        return 0;
    }

    private static TranslateOptions withGlossary(Args args, Translator t, TranslateOptions options)
            throws GlossaryException, PocketMtException {
        if (args.glossary == null) {
            return options;
        }
        return options.withGlossary(Main.loadGlossary(args, t.manifest().model));
    }

    /** Wall time per text; with {@code expected}, each result must have the recorded run's tokens. */
    private static double[] pass(Translator t, List<String> texts, TranslateOptions options, List<Translation> expected)
            throws PocketMtException {
        double[] ms = new double[texts.size()];
        for (int i = 0; i < texts.size(); i++) {
            long began = System.nanoTime();
            Translation r = t.translate(texts.get(i), options);
            ms[i] = (System.nanoTime() - began) / 1e6;
            if (expected != null && !Arrays.equals(r.tokenIds(), expected.get(i).tokenIds())) {
                throw new IllegalStateException("replay of input " + (i + 1) + " gave other tokens");
            }
        }
        return ms;
    }

    /** Per sentence, the median over the passes. */
    static double[] medians(double[][] passes) {
        int n = passes[0].length;
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            List<Double> v = new ArrayList<>();
            for (double[] p : passes) {
                if (p != null) {
                    v.add(p[i]);
                }
            }
            v.sort(null);
            int m = v.size();
            out[i] = m % 2 == 1 ? v.get(m / 2) : (v.get(m / 2 - 1) + v.get(m / 2)) / 2;
        }
        return out;
    }

    private static JSONArray array(double[] xs) throws JSONException {
        JSONArray a = new JSONArray();
        for (double x : xs) {
            a.put(Math.round(x * 1000) / 1000.0);
        }
        return a;
    }
}
