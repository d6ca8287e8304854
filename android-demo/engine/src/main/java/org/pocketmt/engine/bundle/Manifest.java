package org.pocketmt.engine.bundle;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The typed view of {@code manifest.json} that the engine uses: the Java twin of
 * {@code runtime/manifest.py}. The fields the engine reads are checked (types and minimums as in
 * {@code runtime/manifest.schema.json}, then the same consistency checks as the Python runtime:
 * {@code d_model}, ids within the vocabulary, a finite length penalty, named files listed); every file
 * name it holds is a plain name (see {@link FileNames}).
 */
public final class Manifest {
    public static final int SCHEMA_VERSION = 2;
    public static final String NAME = "manifest.json";

    public record Model(String architecture, String sourceLang, String targetLang, int dModel,
            int decoderLayers, int attentionHeads, int headDim, int vocabSize) {}

    public record Tokens(int padId, int eosId, int unkId, int decoderStartId) {}

    public record Limits(int maxSourceLen, int maxTargetLen, int maxBatch) {}

    public record Decoding(int defaultBeam, double lengthPenalty, boolean forcedEos, int[] bannedIds) {}

    public record Tokenizer(String sourceSpm, String targetSpm, String vocab) {
        /** The distinct files, in manifest order (a joint vocabulary names one spm twice). */
        public List<String> files() {
            return List.copyOf(new LinkedHashSet<>(List.of(sourceSpm, targetSpm, vocab)));
        }
    }

    public record FileEntry(long bytes, String sha256) {}

    public final int schemaVersion;
    public final Model model;
    public final Tokens tokens;
    public final Limits limits;
    public final Decoding decoding;
    public final Tokenizer tokenizer;
    public final Map<String, FileEntry> files;
    private final Map<String, JSONObject> graphs;

    private Manifest(int schemaVersion, Model model, Tokens tokens, Limits limits, Decoding decoding,
            Tokenizer tokenizer, Map<String, FileEntry> files, Map<String, JSONObject> graphs) {
        this.schemaVersion = schemaVersion;
        this.model = model;
        this.tokens = tokens;
        this.limits = limits;
        this.decoding = decoding;
        this.tokenizer = tokenizer;
        this.files = files;
        this.graphs = graphs;
    }

    /** Deepest nesting of objects and arrays a manifest may have (a real one has about 6). */
    public static final int MAX_NESTING = 32;

    /** Parse the manifest text; {@code where} names it in messages. */
    public static Manifest parse(String text, String where) throws BundleException {
        // before org.json, which recurses (a deep document overflows the stack) and keeps one of two
        // duplicate keys silently
        String structure = JsonStructure.problem(text, MAX_NESTING);
        if (structure != null) {
            throw new BadManifestException(where + ": not valid JSON (" + structure + ")");
        }
        JSONObject root;
        try {
            root = new JSONObject(text);
        } catch (JSONException e) {
            throw new BadManifestException(where + ": not valid JSON (" + oneLine(e.getMessage()) + ")");
        }
        // the version first: a newer manifest may be invalid for this reader in any other way
        Object version = root.opt("schema_version");
        if (version instanceof Integer || version instanceof Long) {
            long v = ((Number) version).longValue();
            if (v > SCHEMA_VERSION) {
                throw new NewerSchemaException(where + ": schema version " + v
                        + " is newer than this runtime supports (" + SCHEMA_VERSION + "); upgrade pocketmt");
            }
        }
        Fields f = new Fields(where);
        int schema = f.integer(root, "schema_version", 1);
        if (!"pocketmt-bundle".equals(root.opt("format"))) {
            throw f.bad("format", "expected \"pocketmt-bundle\"");
        }
        JSONObject m = f.object(root, "model");
        Model model = new Model(f.string(m, "model/architecture"), f.string(m, "model/source_lang"),
                f.string(m, "model/target_lang"), f.integer(m, "model/d_model", 1),
                f.integer(m, "model/decoder_layers", 1), f.integer(m, "model/attention_heads", 1),
                f.integer(m, "model/head_dim", 1), f.integer(m, "model/vocab_size", 2));
        JSONObject t = f.object(root, "tokens");
        Tokens tokens = new Tokens(f.integer(t, "tokens/pad_id", 0), f.integer(t, "tokens/eos_id", 0),
                f.integer(t, "tokens/unk_id", 0), f.integer(t, "tokens/decoder_start_id", 0));
        JSONObject l = f.object(root, "limits");
        Limits limits = new Limits(f.integer(l, "limits/max_source_len", 1),
                f.integer(l, "limits/max_target_len", 1), f.integer(l, "limits/max_batch", 1));
        JSONObject d = f.object(root, "decoding");
        Decoding decoding = new Decoding(f.integer(d, "decoding/default_beam", 1),
                f.number(d, "decoding/length_penalty"), f.bool(d, "decoding/forced_eos"),
                f.ints(d, "decoding/banned_ids"));
        JSONObject k = f.object(root, "tokenizer");
        if (!"marian-sentencepiece".equals(k.opt("kind"))) {
            throw f.bad("tokenizer/kind", "expected \"marian-sentencepiece\"");
        }
        Tokenizer tokenizer = new Tokenizer(f.name(k, "tokenizer/source_spm"),
                f.name(k, "tokenizer/target_spm"), f.name(k, "tokenizer/vocab"));
        if (root.has("reference")) {
            f.name(root, "reference");
        }
        Map<String, FileEntry> files = parseFiles(f, f.object(root, "files"));
        Map<String, JSONObject> graphs = parseGraphs(f, f.object(root, "graphs"));
        // a vocabulary shortlist changes every step's scores (docs/decoding.md, section 12): an engine
        // that ignored it would translate differently from the Python runtime, so it refuses the bundle
        if (root.has("shortlist")) {
            throw f.bad("shortlist", "this engine does not apply a vocabulary shortlist yet; "
                    + "export the bundle without --shortlist-src");
        }
        Manifest manifest = new Manifest(schema, model, tokens, limits, decoding, tokenizer, files, graphs);
        manifest.checkConsistent(f, root);
        return manifest;
    }

    /**
     * What the schema cannot say, as {@code runtime/manifest.py} checks it: sizes that agree, ids
     * inside the vocabulary, a finite length penalty, a default beam within the batch, and every file
     * the sections name listed in {@code files}.
     */
    private void checkConsistent(Fields f, JSONObject root) throws BundleException {
        if (model.dModel() != (long) model.attentionHeads() * model.headDim()) {
            throw f.bad("model/d_model", model.dModel() + " is not attention_heads * head_dim ("
                    + model.attentionHeads() + " * " + model.headDim() + " = "
                    + (long) model.attentionHeads() * model.headDim() + ")");
        }
        int vocab = model.vocabSize();
        String ids = "ids are 0.." + (vocab - 1) + " (model/vocab_size " + vocab + ")";
        JSONObject t = root.optJSONObject("tokens");
        for (String name : keys(t)) {
            long id = f.longInteger(t, "tokens/" + name, 0);
            if (id >= vocab) {
                throw f.bad("tokens/" + name, id + " is outside the vocabulary: " + ids);
            }
        }
        int[] banned = decoding.bannedIds();
        for (int i = 0; i < banned.length; i++) {
            if (banned[i] >= vocab) {
                throw f.bad("decoding/banned_ids/" + i, banned[i] + " is outside the vocabulary: " + ids);
            }
            if (banned[i] == tokens.eosId()) {
                throw f.bad("decoding/banned_ids/" + i, "bans eos_id " + tokens.eosId()
                        + ": no translation could end");
            }
        }
        if (!Double.isFinite(decoding.lengthPenalty())) {
            throw f.bad("decoding/length_penalty", decoding.lengthPenalty() + " is not a finite number");
        }
        if (decoding.defaultBeam() > limits.maxBatch()) {
            throw f.bad("decoding/default_beam", decoding.defaultBeam() + " is more than limits/max_batch ("
                    + limits.maxBatch() + "), the most rows the graphs take");
        }
        for (String[] named : namedFiles(root)) {
            if (!files.containsKey(named[1])) {
                throw new BadManifestException(f.where + ": invalid manifest: " + named[0] + " names " + named[1]
                        + ", which files does not list (no size or sha256 to check it against)");
            }
        }
    }

    /** (field, file name) of every file the sections name, in {@code Manifest.named_files} order. */
    private List<String[]> namedFiles(JSONObject root) {
        List<String[]> out = new ArrayList<>();
        out.add(new String[] {"tokenizer/source_spm", tokenizer.sourceSpm()});
        out.add(new String[] {"tokenizer/target_spm", tokenizer.targetSpm()});
        out.add(new String[] {"tokenizer/vocab", tokenizer.vocab()});
        for (String backend : graphs.keySet()) {
            JSONObject g = graphs.get(backend);
            String at = "graphs/" + backend;
            if (backend.equals("onnx")) {
                out.add(new String[] {at + "/encode", g.optString("encode")});
                out.add(new String[] {at + "/decode_step", g.optString("decode_step")});
                if (g.has("weights")) {
                    out.add(new String[] {at + "/weights", g.optString("weights")});
                }
            } else if (backend.equals("executorch")) {
                out.add(new String[] {at + "/file", g.optString("file")});
                JSONObject w = g.optJSONObject("weights");
                if (w != null) {
                    out.add(new String[] {at + "/weights/file", w.optString("file")});
                }
            }
        }
        if (root.has("reference")) {
            out.add(new String[] {"reference", root.optString("reference")});
        }
        return out;
    }

    private static Map<String, FileEntry> parseFiles(Fields f, JSONObject obj) throws BundleException {
        Map<String, FileEntry> files = new TreeMap<>();
        for (String name : keys(obj)) {
            FileNames.requirePlain(name, f.where, "files");
            JSONObject e = f.object(obj, "files/" + name);
            long bytes = f.longInteger(e, "files/" + name + "/bytes", 0);
            String sha = f.string(e, "files/" + name + "/sha256");
            if (!sha.matches("[0-9a-f]{64}")) {
                throw f.bad("files/" + name + "/sha256", "expected 64 lower-case hex digits");
            }
            files.put(name, new FileEntry(bytes, sha));
        }
        if (files.isEmpty()) {
            throw f.bad("files", "lists no file");
        }
        return Collections.unmodifiableMap(files);
    }

    private static Map<String, JSONObject> parseGraphs(Fields f, JSONObject obj) throws BundleException {
        Map<String, JSONObject> graphs = new TreeMap<>();
        for (String backend : keys(obj)) {
            JSONObject g = f.object(obj, "graphs/" + backend);
            String at = "graphs/" + backend;
            if (backend.equals("executorch")) {
                f.name(g, at + "/file");
                f.string(g, at + "/encode");
                f.string(g, at + "/decode_step");
                if (g.has("weights")) {
                    f.name(f.object(g, at + "/weights"), at + "/weights/file");
                }
                // the engine keeps the static cache of step contract 1 (docs/bundle.md)
                if (g.has("step_contract") && f.integer(g, at + "/step_contract", 1) != 1) {
                    throw f.bad(at + "/step_contract", "this engine calls step contract 1");
                }
            } else if (backend.equals("onnx")) {
                f.name(g, at + "/encode");
                f.name(g, at + "/decode_step");
                if (g.has("weights")) {
                    f.name(g, at + "/weights");
                }
            }
            graphs.put(backend, g);
        }
        if (graphs.isEmpty()) {
            throw f.bad("graphs", "names no backend");
        }
        return Collections.unmodifiableMap(graphs);
    }

    /** Backends with graphs in this bundle, sorted (as {@code Manifest.backends} in Python). */
    public List<String> backends() {
        return List.copyOf(graphs.keySet());
    }

    /** The graph entry of one backend, as written in the manifest (for a step factory). */
    public JSONObject graph(String backend) {
        return graphs.get(backend);
    }

    /** Files that translating with {@code backend} reads: the ones the integrity check covers. */
    public List<String> filesForBackend(String backend) {
        List<String> names = new ArrayList<>(tokenizer.files());
        JSONObject g = graphs.get(backend);
        if (g == null) {
            return names;
        }
        if (backend.equals("executorch")) {
            names.add(g.optString("file"));
            JSONObject w = g.optJSONObject("weights");
            if (w != null) {
                names.add(w.optString("file"));
            }
        } else {
            names.add(g.optString("encode"));
            names.add(g.optString("decode_step"));
            if (g.has("weights")) {
                names.add(g.optString("weights"));
            }
        }
        return names;
    }

    private static List<String> keys(JSONObject obj) {
        List<String> out = new ArrayList<>();
        obj.keys().forEachRemaining(out::add);
        Collections.sort(out);
        return out;
    }

    static String oneLine(String s) {
        return s == null ? "" : String.join(" ", s.trim().split("\\s+"));
    }

    /** Typed field access that names the field's path in every message. */
    private static final class Fields {
        final String where;

        Fields(String where) {
            this.where = where;
        }

        BadManifestException bad(String path, String what) {
            return new BadManifestException(where + ": invalid manifest at " + path + ": " + what);
        }

        private Object get(JSONObject obj, String path) throws BadManifestException {
            String key = path.substring(path.lastIndexOf('/') + 1);
            if (!obj.has(key) || obj.isNull(key)) {
                throw bad(path, "missing");
            }
            return obj.opt(key);
        }

        JSONObject object(JSONObject obj, String path) throws BadManifestException {
            Object v = get(obj, path);
            if (!(v instanceof JSONObject)) {
                throw bad(path, "expected an object");
            }
            return (JSONObject) v;
        }

        String string(JSONObject obj, String path) throws BadManifestException {
            Object v = get(obj, path);
            if (!(v instanceof String)) {
                throw bad(path, "expected a string");
            }
            return (String) v;
        }

        String name(JSONObject obj, String path) throws BundleException {
            String name = string(obj, path);
            FileNames.requirePlain(name, where, path);
            return name;
        }

        long longInteger(JSONObject obj, String path, long minimum) throws BadManifestException {
            Object v = get(obj, path);
            if (!(v instanceof Integer || v instanceof Long)) {
                throw bad(path, "expected an integer");
            }
            long n = ((Number) v).longValue();
            if (n < minimum) {
                throw bad(path, n + " is less than the minimum of " + minimum);
            }
            return n;
        }

        int integer(JSONObject obj, String path, int minimum) throws BadManifestException {
            long n = longInteger(obj, path, minimum);
            if (n > Integer.MAX_VALUE) {
                throw bad(path, n + " is too large");
            }
            return (int) n;
        }

        double number(JSONObject obj, String path) throws BadManifestException {
            Object v = get(obj, path);
            if (!(v instanceof Number)) {
                throw bad(path, "expected a number");
            }
            double d = ((Number) v).doubleValue();
            if (!Double.isFinite(d)) {  // org.json reads 1e999 and -Infinity as infinite doubles
                throw bad(path, d + " is not a finite number");
            }
            return d;
        }

        boolean bool(JSONObject obj, String path) throws BadManifestException {
            Object v = get(obj, path);
            if (!(v instanceof Boolean)) {
                throw bad(path, "expected a boolean");
            }
            return (Boolean) v;
        }

        int[] ints(JSONObject obj, String path) throws BadManifestException {
            Object v = get(obj, path);
            if (!(v instanceof JSONArray)) {
                throw bad(path, "expected an array");
            }
            JSONArray a = (JSONArray) v;
            int[] out = new int[a.length()];
            for (int i = 0; i < out.length; i++) {
                Object x = a.opt(i);
                if (!(x instanceof Integer) || (Integer) x < 0) {
                    throw bad(path + "/" + i, "expected an integer >= 0");
                }
                out[i] = (Integer) x;
            }
            return out;
        }
    }
}
