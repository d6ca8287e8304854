package org.pocketmt.demo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.bundle.Bundle;
import org.pocketmt.engine.bundle.Manifest;

/**
 * Where the app finds bundles: the ones packed in the APK's assets (copied once to the app's files
 * folder, since ExecuTorch's Module loads from a file path, not from an asset stream) and any folder
 * on the device that holds a {@code manifest.json}. No Android class here, so the JVM test runs it.
 */
public final class BundleShelf {
    private BundleShelf() {}

    /** The two calls of {@code android.content.res.AssetManager} the copy needs. */
    public interface Assets {
        String[] list(String path) throws IOException;

        InputStream open(String path) throws IOException;
    }

    /** A bundle folder and how the pair list shows it. */
    public static final class Entry {
        public final Path dir;
        public final String label;
        public final boolean runnable; // it has ExecuTorch graphs, which is what the phone runs

        Entry(Path dir, String label, boolean runnable) {
            this.dir = dir;
            this.label = label;
            this.runnable = runnable;
        }

        @Override
        public String toString() {
            return label; // what ArrayAdapter shows
        }
    }

    /**
     * Copy every {@code root/NAME/} folder of the assets to {@code target/NAME/}, unless the same
     * manifest is there already (the manifest holds the sha256 of every file, so an equal manifest
     * means an equal bundle). A copy goes to a temporary folder first and is renamed when complete,
     * so an interrupted first launch leaves no half bundle behind. Returns the names copied.
     */
    public static List<String> install(Assets assets, String root, Path target) throws IOException {
        List<String> copied = new ArrayList<>();
        Files.createDirectories(target);
        String[] names = assets.list(root);
        for (String name : names == null ? new String[0] : names) {
            String from = root + "/" + name;
            String[] files = assets.list(from);
            if (files == null || !Arrays.asList(files).contains(Manifest.NAME)) {
                continue; // not a bundle folder
            }
            Path dest = target.resolve(name);
            byte[] manifest = readAll(assets, from + "/" + Manifest.NAME);
            Path installed = dest.resolve(Manifest.NAME);
            if (Files.isRegularFile(installed) && Arrays.equals(Files.readAllBytes(installed), manifest)) {
                continue;
            }
            Path tmp = target.resolve("." + name + ".partial");
            deleteTree(tmp);
            Files.createDirectories(tmp);
            for (String file : files) {
                try (InputStream in = assets.open(from + "/" + file)) {
                    Files.copy(in, tmp.resolve(file));
                }
            }
            deleteTree(dest);
            Files.move(tmp, dest, StandardCopyOption.ATOMIC_MOVE);
            copied.add(name);
        }
        return copied;
    }

    /** Every folder directly under the roots that opens as a bundle, sorted by label. */
    public static List<Entry> scan(List<Path> roots) {
        List<Entry> out = new ArrayList<>();
        for (Path root : roots) {
            if (root == null || !Files.isDirectory(root)) {
                continue;
            }
            try (DirectoryStream<Path> dirs = Files.newDirectoryStream(root)) {
                for (Path dir : dirs) {
                    if (dir.getFileName().toString().startsWith(".") || !Files.isRegularFile(dir.resolve(Manifest.NAME))) {
                        continue;
                    }
                    try {
                        out.add(describe(dir));
                    } catch (PocketMtException e) {
                        // a broken folder is not offered; opening it by path says why
                    }
                }
            } catch (IOException e) {
                // an unreadable root offers nothing
            }
        }
        out.sort(Comparator.comparing((Entry e) -> e.label));
        return out;
    }

    /** Read a folder's manifest (not its model) and label it, for example "en → de · en-de". */
    public static Entry describe(Path dir) throws PocketMtException {
        Manifest m = Bundle.open(dir).manifest();
        boolean runnable = m.backends().contains("executorch");
        String label = m.model.sourceLang() + " → " + m.model.targetLang() + " · " + dir.getFileName()
                + (runnable ? "" : " (no .pte: export it with --format pte)");
        return new Entry(dir, label, runnable);
    }

    private static byte[] readAll(Assets assets, String path) throws IOException {
        // by hand: InputStream.readAllBytes is missing from older Android releases
        try (InputStream in = assets.open(path)) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[1 << 14];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        if (Files.isDirectory(p)) {
            try (DirectoryStream<Path> children = Files.newDirectoryStream(p)) {
                for (Path c : children) {
                    deleteTree(c);
                }
            }
        }
        Files.delete(p);
    }
}
