package org.pocketmt.demo;

import java.util.Arrays;
import java.util.List;
import org.json.JSONObject;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.StepFactory;
import org.pocketmt.engine.bundle.Bundle;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.search.Step;
import org.pytorch.executorch.Module;

/**
 * Opens a bundle's ExecuTorch program with the stock {@code org.pytorch.executorch.Module} and wraps
 * it in a {@link ModuleStep}. That Module loads one file (its native side constructs
 * {@code Module(path, load_mode)} and takes no external data file), so the bundle must carry a
 * self-contained {@code .pte}.
 */
public final class ModuleStepFactory implements StepFactory {
    @Override
    public Step open(Bundle bundle) throws PocketMtException {
        Manifest m = bundle.manifest();
        bundle.resolveBackend("executorch"); // refuses a bundle without ExecuTorch graphs, naming what it has
        JSONObject graph = m.graph("executorch");
        if (graph.has("weights")) {
            throw new PocketMtException(bundle.path() + ": its .pte keeps its weights in a separate file ("
                    + graph.optJSONObject("weights").optString("file")
                    + "), which the stock ExecuTorch Module cannot load; export the bundle again with --format pte");
        }
        String encode = graph.optString("encode");
        String decode = graph.optString("decode_step");
        String path = bundle.file(graph.optString("file")).toString();
        Module module;
        try {
            // mmap: the weights stay in the page cache instead of a second copy on the Java heap
            module = Module.load(path, Module.LOAD_MODE_MMAP);
        } catch (RuntimeException e) {
            throw new PocketMtException(path + ": ExecuTorch cannot load it (" + e.getMessage() + ")", e);
        }
        try {
            List<String> methods = Arrays.asList(module.getMethods());
            for (String name : new String[] {encode, decode}) {
                if (!methods.contains(name)) {
                    throw new PocketMtException(path + ": no method '" + name + "' (it has " + methods + ")");
                }
                module.loadMethod(name); // now, so the first translation is not the one that pays for it
            }
        } catch (PocketMtException | RuntimeException e) {
            module.close();
            if (e instanceof PocketMtException) {
                throw (PocketMtException) e;
            }
            throw new PocketMtException(path + ": ExecuTorch cannot prepare its methods (" + e.getMessage() + ")", e);
        }
        Manifest.Model model = m.model;
        return new ModuleStep(module::execute, encode, decode, model.decoderLayers(), model.attentionHeads(),
                model.headDim(), m.limits.maxTargetLen(), m.limits.maxSourceLen(), m.limits.maxBatch(),
                model.vocabSize(), module);
    }
}
