package org.pocketmt.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.bundle.Bundle;

/** The first-launch copy of the APK's bundles and the pair list, on the built-in bundles. */
class BundleShelfTest {
    static final Path MODELS = ModuleStepOnRealModelTest.REPO.resolve("sdk/models");

    /** The APK's assets as a folder: assets/bundles/NAME/FILE. */
    static BundleShelf.Assets folder(Path assets) {
        return new BundleShelf.Assets() {
            @Override
            public String[] list(String path) throws IOException {
                Path p = assets.resolve(path);
                if (!Files.isDirectory(p)) {
                    return new String[0]; // AssetManager lists a file as empty
                }
                try (Stream<Path> s = Files.list(p)) {
                    return s.map(x -> x.getFileName().toString()).sorted().toArray(String[]::new);
                }
            }

            @Override
            public InputStream open(String path) throws IOException {
                return Files.newInputStream(assets.resolve(path));
            }
        };
    }

    @Test
    void copiesOnceAndAgainWhenTheBundleChanges(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isDirectory(MODELS.resolve("en-de")), "no built-in bundles");
        Path assets = tmp.resolve("assets");
        Path apkBundle = Files.createDirectories(assets.resolve("bundles/en-de"));
        Files.createDirectories(assets.resolve("bundles/not-a-bundle"));
        for (String f : new String[] {"manifest.json", "source.spm", "vocab.json"}) {
            Files.copy(MODELS.resolve("en-de").resolve(f), apkBundle.resolve(f));
        }
        Path files = tmp.resolve("files/bundles");
        assertEquals(List.of("en-de"), BundleShelf.install(folder(assets), "bundles", files));
        assertArrayEquals(Files.readAllBytes(apkBundle.resolve("vocab.json")),
                Files.readAllBytes(files.resolve("en-de/vocab.json")));
        assertEquals(List.of(), BundleShelf.install(folder(assets), "bundles", files), "same manifest: no copy");

        // a new APK with another bundle under the same name replaces the copy
        String manifest = Files.readString(apkBundle.resolve("manifest.json"), StandardCharsets.UTF_8);
        Files.writeString(apkBundle.resolve("manifest.json"), manifest.replace("\"max_batch\": 4", "\"max_batch\": 3"));
        assertEquals(List.of("en-de"), BundleShelf.install(folder(assets), "bundles", files));
        assertTrue(Files.readString(files.resolve("en-de/manifest.json")).contains("\"max_batch\": 3"));
        try (Stream<Path> left = Files.list(files)) {
            assertEquals(List.of("en-de"), left.map(p -> p.getFileName().toString()).toList(), "no partial folder left");
        }
    }

    @Test
    void listsBundlesWithTheirPairAndWhetherThePhoneCanRunThem(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isDirectory(MODELS.resolve("de-en")), "no built-in bundles");
        List<BundleShelf.Entry> found = BundleShelf.scan(java.util.Arrays.asList(MODELS, tmp.resolve("absent"), null));
        List<String> labels = found.stream().map(e -> e.label).toList();
        assertTrue(labels.stream().anyMatch(l -> l.startsWith("de → en · de-en")), labels.toString());
        assertTrue(labels.stream().anyMatch(l -> l.startsWith("en → de · en-de")), labels.toString());
        for (BundleShelf.Entry e : found) {
            // runnable on the phone exactly when the bundle has ExecuTorch graphs, and the label says so
            boolean pte = Bundle.open(e.dir).manifest().backends().contains("executorch");
            assertEquals(pte, e.runnable, e.label);
            assertEquals(!pte, e.label.endsWith("(no .pte: export it with --format pte)"), e.label);
        }
        assertThrows(PocketMtException.class, () -> BundleShelf.describe(tmp));
    }
}
