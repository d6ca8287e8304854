package org.pocketmt.demo;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.bundle.Bundle;

/** The bundles the factory refuses before it asks ExecuTorch for anything, with their messages. */
class ModuleStepFactoryTest {
    static final Path EN_DE = ModuleStepOnRealModelTest.REPO.resolve("sdk/models/en-de");

    /** The built-in manifest with an ExecuTorch entry (the files themselves are not needed here). */
    static Path withExecutorch(Path tmp, boolean twoFiles) throws Exception {
        JSONObject m = new JSONObject(Files.readString(EN_DE.resolve("manifest.json"), StandardCharsets.UTF_8));
        JSONObject et = new JSONObject().put("file", "model.pte").put("encode", "encode").put("decode_step", "decode_step");
        if (twoFiles) {
            et.put("weights", new JSONObject().put("file", "model.weights.safetensors"));
            // listed as the older exporter listed it, so the manifest itself is consistent
            m.getJSONObject("files").put("model.weights.safetensors",
                    new JSONObject().put("bytes", 1).put("sha256", "0".repeat(64)));
        }
        m.getJSONObject("graphs").put("executorch", et);
        Path dir = Files.createDirectories(tmp.resolve("bundle"));
        Files.writeString(dir.resolve("manifest.json"), m.toString());
        return dir;
    }

    @Test
    void aBundleWithoutExecutorchGraphs(@TempDir Path tmp) throws Exception {
        // an ONNX-only bundle: the built-in manifest without its ExecuTorch program
        assumeTrue(Files.isDirectory(EN_DE), "no built-in bundle");
        JSONObject m = new JSONObject(Files.readString(EN_DE.resolve("manifest.json"), StandardCharsets.UTF_8));
        String pte = m.getJSONObject("graphs").getJSONObject("executorch").getString("file");
        m.getJSONObject("graphs").remove("executorch");
        m.getJSONObject("files").remove(pte);
        Path dir = Files.createDirectories(tmp.resolve("onnx-only"));
        Files.writeString(dir.resolve("manifest.json"), m.toString());
        PocketMtException e = assertThrows(PocketMtException.class, () -> new ModuleStepFactory().open(Bundle.open(dir)));
        assertTrue(e.getMessage().endsWith("bundle has no executorch graphs (it has: onnx)"), e.getMessage());
    }

    @Test
    void aTwoFileProgramOfTheEarlierFormat(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isDirectory(EN_DE), "no built-in bundle");
        Bundle b = Bundle.open(withExecutorch(tmp, true));
        PocketMtException e = assertThrows(PocketMtException.class, () -> new ModuleStepFactory().open(b));
        assertTrue(e.getMessage().contains("separate file (model.weights.safetensors)"), e.getMessage());
        assertTrue(e.getMessage().endsWith("export the bundle again with --format pte"), e.getMessage());
    }

    @Test
    void aLoadFailureIsOneLineNamingTheFile(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isDirectory(EN_DE), "no built-in bundle");
        // Here the stub Module refuses every load, as the real one refuses a missing or broken file.
        Bundle b = Bundle.open(withExecutorch(tmp, false));
        PocketMtException e = assertThrows(PocketMtException.class, () -> new ModuleStepFactory().open(b));
        assertTrue(e.getMessage().startsWith(b.path().resolve("model.pte") + ": ExecuTorch cannot load it ("), e.getMessage());
    }
}
