package org.pocketmt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.StepFactory;
import org.pocketmt.engine.TranslateOptions;
import org.pocketmt.engine.Translation;
import org.pocketmt.engine.Translator;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.glossary.GlossaryReader;
import org.pocketmt.engine.pipe.PipeStepFactory;

/**
 * ModuleStep on the real built-in models: the engine translating through ModuleStep (the app's
 * cache bookkeeping, over the bundle's raw ONNX graphs served by graph_server.py) must give the
 * same ids, text, score and terms as the engine through the Python runtime's own CachedStepModel
 * (the step server), for greedy, beam and constrained beam search. Skipped where no python with
 * pocketmt installed is found ($POCKETMT_PYTHON, else the repository's .venv).
 *
 * <p>{@code $POCKETMT_APP_PTE_BUNDLE}, a bundle with ExecuTorch graphs, adds the same comparison on
 * its {@code .pte}, run by the Python runtime's ExecuTorch bindings: the program the phone loads.
 */
class ModuleStepOnRealModelTest {
    static final Path REPO = Paths.get(System.getProperty("pocketmt.repo", "../..")).toAbsolutePath().normalize();
    static final Path SERVER = REPO.resolve("android-demo/app/src/test/python/graph_server.py");

    static final List<String> EN = List.of("A dog runs through the snow.", "Two men play football in a park.",
            "A woman in a red dress is singing on a stage.", "Children are playing with a ball on the beach.",
            "A man rides his bicycle down a busy street while a dog runs after him.", "Hello!",
            "An old man sits on a bench and reads the newspaper. His dog sleeps.");
    static final String EN_TERMS = "dog\tHund\nsnow\tSchnee\nfootball\tFußball\tFussball\npark\tGrünanlage\n"
            + "street\tStraße\nbench\tSitzbank\n";
    static final List<String> DE = List.of("Ein Hund läuft durch den Schnee.", "Zwei Männer spielen Fußball.",
            "Eine Frau in einem roten Kleid singt auf einer Bühne.", "Kinder spielen am Strand mit einem Ball.",
            "Ein alter Mann sitzt auf einer Bank und liest Zeitung.", "Hallo!");
    static final String DE_TERMS = "Hund\tdog\thound\nSchnee\tsnow\nFrau\tlady\nBank\tbench\nStrand\tseaside\n";

    static String python() {
        String env = System.getenv(PipeStepFactory.PYTHON_ENV);
        if (env != null && !env.isBlank()) {
            return env;
        }
        Path venv = REPO.resolve(".venv/bin/python");
        return Files.isExecutable(venv) ? venv.toString() : null;
    }

    @Test
    void enDe(@TempDir Path tmp) throws Exception {
        // en-de's ONNX graphs follow step contract 2; the phone's Module calls the .pte's contract 1
        compare(REPO.resolve("sdk/models/en-de"), "executorch", EN, EN_TERMS, tmp);
    }

    @Test
    void deEn(@TempDir Path tmp) throws Exception {
        compare(REPO.resolve("sdk/models/de-en"), "onnx", DE, DE_TERMS, tmp);
    }

    @Test
    void executorchBundle(@TempDir Path tmp) throws Exception {
        String dir = System.getenv("POCKETMT_APP_PTE_BUNDLE");
        assumeTrue(dir != null && !dir.isBlank(), "set POCKETMT_APP_PTE_BUNDLE to a bundle exported with --format pte");
        compare(Paths.get(dir), "executorch", EN, EN_TERMS, tmp);
    }

    private static void compare(Path bundle, String backend, List<String> texts, String terms, Path tmp)
            throws Exception {
        String python = python();
        assumeTrue(python != null && Files.isDirectory(bundle), "no python with pocketmt, or no " + bundle);
        String pair = bundle.getFileName() + " (" + backend + ")";
        Path glossaryFile = tmp.resolve("terms.tsv");
        Files.write(glossaryFile, terms.getBytes(StandardCharsets.UTF_8));
        StepFactory viaModuleStep = b -> {
            Manifest m = b.manifest();
            GraphServerProgram program;
            try {
                program = new GraphServerProgram(python, SERVER, b.path(), backend);
            } catch (IOException e) {
                throw new PocketMtException("cannot start graph_server.py: " + e.getMessage());
            }
            return new ModuleStep(program, "encode", "decode_step", m.model.decoderLayers(), m.model.attentionHeads(),
                    m.model.headDim(), m.limits.maxTargetLen(), m.limits.maxSourceLen(), m.limits.maxBatch(),
                    m.model.vocabSize(), program);
        };
        try (Translator app = Translator.open(bundle, viaModuleStep, backend);
                Translator runtime = Translator.open(bundle, new PipeStepFactory(python, backend), backend)) {
            Manifest m = app.manifest();
            TranslateOptions glossary = TranslateOptions.defaults().withBeam(4).withGlossary(
                    GlossaryReader.load(glossaryFile, m.model.sourceLang(), m.model.targetLang()));
            String[] modes = {"greedy", "beam 4", "beam 4 + glossary"};
            TranslateOptions[] options = {TranslateOptions.defaults().withBeam(1),
                TranslateOptions.defaults().withBeam(4), glossary};
            int termsMet = 0;
            for (int k = 0; k < modes.length; k++) {
                int same = 0;
                for (String text : texts) {
                    Translation a = app.translate(text, options[k]);
                    Translation b = runtime.translate(text, options[k]);
                    String where = pair + " " + modes[k] + ": " + text;
                    assertArrayEquals(b.tokenIds(), a.tokenIds(), where);
                    assertEquals(b.text(), a.text(), where);
                    assertEquals(b.score(), a.score(), 0.0, where);
                    assertEquals(b.terms(), a.terms(), where);
                    assertEquals(b.constraintsDropped(), a.constraintsDropped(), where);
                    same++;
                    termsMet += a.terms().size();
                }
                System.out.println("ModuleStep on " + pair + ", " + modes[k] + ": " + same + " of " + texts.size()
                        + " identical to the Python runtime's cache");
            }
            assertTrue(termsMet > 0, "the glossary matched nothing: the constrained mode tested no constraint");
        }
    }
}
