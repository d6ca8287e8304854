package org.pocketmt.engine.bundle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.json.JSONException;
import org.json.JSONObject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every refusal of runtime/bundle.py, with its typed exception and a one-line message. */
class BundleTest {
    @TempDir
    Path tmp;
    Path dir;

    @BeforeEach
    void writeBundle() throws IOException, JSONException {
        dir = tmp.resolve("bundle");
        Files.createDirectories(dir);
        JSONObject files = new JSONObject();
        for (String name : List.of("source.spm", "vocab.json", "encoder.onnx", "decoder_step.onnx")) {
            byte[] data = ("contents of " + name).getBytes(StandardCharsets.UTF_8);
            Files.write(dir.resolve(name), data);
            files.put(name, new JSONObject().put("bytes", data.length).put("sha256", sha(dir.resolve(name))));
        }
        writeManifest(manifest(files));
    }

    static String sha(Path p) throws IOException {
        return Bundle.sha256(p);
    }

    JSONObject manifest(JSONObject files) throws JSONException {
        return new JSONObject()
                .put("schema_version", 1)
                .put("format", "pocketmt-bundle")
                .put("model", new JSONObject().put("architecture", "marian").put("source_lang", "en")
                        .put("target_lang", "de").put("d_model", 8).put("encoder_layers", 1)
                        .put("decoder_layers", 1).put("attention_heads", 2).put("head_dim", 4)
                        .put("ffn_dim", 16).put("vocab_size", 10).put("parameters", 100))
                .put("tokens", new JSONObject().put("pad_id", 9).put("eos_id", 0).put("unk_id", 1)
                        .put("decoder_start_id", 9))
                .put("limits", new JSONObject().put("max_source_len", 16).put("max_target_len", 8)
                        .put("max_batch", 4))
                .put("decoding", new JSONObject().put("default_beam", 4).put("length_penalty", 1.0)
                        .put("forced_eos", true).put("banned_ids", new org.json.JSONArray().put(9)))
                .put("tokenizer", new JSONObject().put("kind", "marian-sentencepiece")
                        .put("source_spm", "source.spm").put("target_spm", "source.spm").put("vocab", "vocab.json"))
                .put("graphs", new JSONObject().put("onnx", new JSONObject().put("encode", "encoder.onnx")
                        .put("decode_step", "decoder_step.onnx")))
                .put("files", files);
    }

    JSONObject readManifest() throws IOException, JSONException {
        return new JSONObject(Files.readString(dir.resolve("manifest.json")));
    }

    void writeManifest(JSONObject m) throws IOException {
        Files.writeString(dir.resolve("manifest.json"), m.toString());
    }

    static <T extends Throwable> T refused(Class<T> type, org.junit.jupiter.api.function.Executable call) {
        T e = assertThrows(type, call);
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e;
    }

    @Test
    void opensAndChecksEveryFile() throws Exception {
        Bundle b = Bundle.open(dir);
        b.checkFiles(null);
        assertEquals("onnx", b.resolveBackend(null));
        assertEquals(List.of("source.spm", "vocab.json", "encoder.onnx", "decoder_step.onnx"),
                b.manifest().filesForBackend("onnx"));
        assertEquals(16, b.manifest().limits.maxSourceLen());
        assertEquals(9, b.manifest().decoding.bannedIds()[0]);
    }

    @Test
    void refusesAMissingFolderOrManifest() throws Exception {
        refused(MissingFileException.class, () -> Bundle.open(tmp.resolve("nope")));
        Files.delete(dir.resolve("manifest.json"));
        assertTrue(refused(MissingFileException.class, () -> Bundle.open(dir)).getMessage()
                .contains("not a pocketmt bundle"));
    }

    @Test
    void refusesAMissingFile() throws Exception {
        Files.delete(dir.resolve("encoder.onnx"));
        Bundle b = Bundle.open(dir);
        assertTrue(refused(MissingFileException.class, () -> b.checkBackendFiles("onnx")).getMessage()
                .endsWith("file missing: encoder.onnx"));
    }

    @Test
    void refusesATruncatedFile() throws Exception {
        Files.writeString(dir.resolve("vocab.json"), "short");
        Bundle b = Bundle.open(dir);
        assertTrue(refused(AlteredFileException.class, () -> b.checkBackendFiles("onnx")).getMessage()
                .contains("truncated or replaced"));
    }

    @Test
    void refusesAnAlteredFileOfTheSameSize() throws Exception {
        byte[] data = Files.readAllBytes(dir.resolve("decoder_step.onnx"));
        data[0] ^= 1;
        Files.write(dir.resolve("decoder_step.onnx"), data);
        Bundle b = Bundle.open(dir);
        assertTrue(refused(AlteredFileException.class, () -> b.checkBackendFiles("onnx")).getMessage()
                .contains("sha256 mismatch"));
    }

    @Test
    void readsSchemaTwoAndRefusesAnExecuTorchEntryOfStepContractTwo() throws Exception {
        JSONObject m = readManifest().put("schema_version", 2);
        m.getJSONObject("graphs").getJSONObject("onnx").put("step_contract", 2);
        writeManifest(m);
        assertEquals(List.of("onnx"), Bundle.open(dir).manifest().backends());
        m.getJSONObject("graphs").put("executorch", new JSONObject().put("file", "model.pte")
                .put("encode", "encode").put("decode_step", "decode_step").put("step_contract", 2));
        writeManifest(m);
        assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                .contains("graphs/executorch/step_contract"));
    }

    @Test
    void refusesABundleWithAVocabularyShortlist() throws Exception {
        JSONObject m = readManifest().put("schema_version", 2);
        m.put("shortlist", new JSONObject().put("file", "shortlist.safetensors").put("frequent", 256)
                .put("per_token", 48));
        writeManifest(m);
        assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                .contains("does not apply a vocabulary shortlist"));
    }

    @Test
    void refusesANewerSchemaEvenIfTheRestIsInvalid() throws Exception {
        writeManifest(new JSONObject().put("schema_version", Manifest.SCHEMA_VERSION + 1));
        assertTrue(refused(NewerSchemaException.class, () -> Bundle.open(dir)).getMessage()
                .contains("schema version " + (Manifest.SCHEMA_VERSION + 1) + " is newer"));
    }

    @Test
    void refusesInvalidJsonAndMissingOrMistypedFields() throws Exception {
        Files.writeString(dir.resolve("manifest.json"), "{\"schema_version\": 1,");
        refused(BadManifestException.class, () -> Bundle.open(dir));
        JSONObject m = readManifestAfterRewrite();
        m.getJSONObject("limits").remove("max_batch");
        writeManifest(m);
        assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                .contains("limits/max_batch: missing"));
        m.getJSONObject("limits").put("max_batch", "4");
        writeManifest(m);
        assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                .contains("limits/max_batch: expected an integer"));
        m.getJSONObject("limits").put("max_batch", 0);
        writeManifest(m);
        refused(BadManifestException.class, () -> Bundle.open(dir));
    }

    JSONObject readManifestAfterRewrite() throws Exception {
        writeBundle();
        return readManifest();
    }

    @Test
    void refusesFileNamesThatAreNotPlainNamesInTheFolder() throws Exception {
        for (String bad : List.of("../secret", "/etc/passwd", "sub/encoder.onnx", "..", ".", "", "a\\b", "C:x",
                "enc\u0000.onnx")) {
            JSONObject m = readManifestAfterRewrite();
            m.getJSONObject("graphs").getJSONObject("onnx").put("encode", bad);
            writeManifest(m);
            refused(BadManifestException.class, () -> Bundle.open(dir));
            m = readManifestAfterRewrite();
            JSONObject files = m.getJSONObject("files");
            files.put(bad, files.getJSONObject("vocab.json"));
            writeManifest(m);
            refused(BadManifestException.class, () -> Bundle.open(dir));
        }
    }

    @Test
    void refusesASymlinkThatLeavesTheFolder() throws Exception {
        Path outside = tmp.resolve("outside.onnx");
        Files.move(dir.resolve("encoder.onnx"), outside);
        Files.createSymbolicLink(dir.resolve("encoder.onnx"), outside);
        Bundle b = Bundle.open(dir);
        assertTrue(refused(BadManifestException.class, () -> b.checkBackendFiles("onnx")).getMessage()
                .contains("outside the bundle folder"));
    }

    @Test
    void refusesAManifestThatIsASymlinkOutOfTheFolder() throws Exception {
        Path outside = tmp.resolve("outside.json");
        Files.move(dir.resolve("manifest.json"), outside);
        Files.createSymbolicLink(dir.resolve("manifest.json"), outside);
        assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                .contains("manifest.json: resolves outside the bundle folder"));
    }

    String messageFor(java.util.function.Consumer<JSONObject> edit) throws Exception {
        JSONObject m = readManifestAfterRewrite();
        edit.accept(m);
        writeManifest(m);
        return refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage();
    }

    static JSONObject at(JSONObject m, String key) {
        return m.optJSONObject(key);
    }

    static void put(JSONObject o, String key, Object value) {
        try {
            o.put(key, value);
        } catch (JSONException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The consistency checks of runtime/manifest.py, with the same field paths in the messages. */
    @Test
    void refusesAManifestThatContradictsItself() throws Exception {
        assertTrue(messageFor(m -> put(at(m, "model"), "d_model", 9))
                .contains("invalid manifest at model/d_model: 9 is not attention_heads * head_dim (2 * 4 = 8)"));
        assertTrue(messageFor(m -> put(at(m, "tokens"), "eos_id", 10))
                .contains("invalid manifest at tokens/eos_id: 10 is outside the vocabulary"));
        assertTrue(messageFor(m -> put(at(m, "tokens"), "decoder_start_id", 12))
                .contains("invalid manifest at tokens/decoder_start_id: 12 is outside"));
        assertTrue(messageFor(m -> put(at(m, "decoding"), "banned_ids", new org.json.JSONArray().put(10)))
                .contains("invalid manifest at decoding/banned_ids/0: 10 is outside the vocabulary"));
        assertTrue(messageFor(m -> put(at(m, "decoding"), "banned_ids", new org.json.JSONArray().put(0)))
                .contains("decoding/banned_ids/0: bans eos_id 0"));
        assertTrue(messageFor(m -> put(at(m, "decoding"), "default_beam", 5))
                .contains("invalid manifest at decoding/default_beam: 5 is more than limits/max_batch (4)"));
        assertTrue(messageFor(m -> at(m, "files").remove("vocab.json"))
                .contains("tokenizer/vocab names vocab.json, which files does not list"));
        assertTrue(messageFor(m -> put(m, "reference", "reference.json"))
                .contains("reference names reference.json, which files does not list"));
        assertTrue(messageFor(m -> put(m, "reference", "../reference.json"))
                .contains("invalid manifest at reference: file name '../reference.json' has a path separator"));
    }

    @Test
    void refusesNonFiniteNumbersDeepNestingAndDuplicateKeys() throws Exception {
        String text = Files.readString(dir.resolve("manifest.json"));
        for (String literal : List.of("1e999", "-1e999", "NaN")) {
            writeBundle();
            Files.writeString(dir.resolve("manifest.json"),
                    text.replaceFirst("\"length_penalty\":[-0-9.eE]+", "\"length_penalty\":" + literal));
            String msg = refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage();
            // org.json refuses infinities itself ("Forbidden numeric value") and reads NaN as a string
            assertTrue(msg.contains("not valid JSON") || msg.contains("decoding/length_penalty"), msg);
        }
        for (int depth : new int[] {Manifest.MAX_NESTING, 100_000}) {
            String nested = "[".repeat(depth) + "]".repeat(depth);
            Files.writeString(dir.resolve("manifest.json"), text.substring(0, text.length() - 1)
                    + ",\"extra\":" + nested + "}");
            assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                    .contains("not valid JSON (nested deeper than 32 levels)"));
        }
        Files.writeString(dir.resolve("manifest.json"), text.replaceFirst("\"tokens\":\\{",
                "\"tokens\":{\"eos_id\":1},\"tokens\":{"));
        assertTrue(refused(BadManifestException.class, () -> Bundle.open(dir)).getMessage()
                .contains("not valid JSON (duplicate key 'tokens')"));
        // a key that only looks like a duplicate (inside a string, in another object) is not one
        Files.writeString(dir.resolve("manifest.json"), text.substring(0, text.length() - 1)
                + ",\"extra\":{\"tokens\":\"\\\"tokens\\\": {\",\"x\":[{\"a\":1},{\"a\":2}]}}");
        Bundle.open(dir);
    }

    @Test
    void refusesABackendTheBundleLacks() throws Exception {
        Bundle b = Bundle.open(dir);
        assertTrue(refused(MissingFileException.class, () -> b.resolveBackend("executorch")).getMessage()
                .contains("has no executorch graphs"));
        refused(BundleException.class, () -> b.resolveBackend("tflite"));
    }
}
