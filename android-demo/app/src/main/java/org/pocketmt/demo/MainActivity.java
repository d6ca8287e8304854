package org.pocketmt.demo;

import android.app.Activity;
import android.content.res.AssetManager;
import android.text.InputType;
import android.util.Log;
import android.view.View;
import android.view.ViewGroup;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.CheckBox;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ScrollView;
import android.widget.Spinner;
import android.widget.TextView;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.pocketmt.engine.PocketMtException;
import org.pocketmt.engine.TermResult;
import org.pocketmt.engine.Timings;
import org.pocketmt.engine.TranslateOptions;
import org.pocketmt.engine.Translation;
import org.pocketmt.engine.Translator;
import org.pocketmt.engine.bundle.Manifest;
import org.pocketmt.engine.glossary.Glossary;
import org.pocketmt.engine.glossary.GlossaryException;
import org.pocketmt.engine.glossary.GlossaryReader;

/**
 * The whole app: pick a language pair, type, translate. A thin shell over the engine
 * ({@link Translator}): tokenizer, search and glossary constraints all live there; this class only
 * moves text between widgets and a worker thread. Nothing goes over the network (the manifest asks
 * for no INTERNET permission).
 */
public final class MainActivity extends Activity {
    private static final String TAG = "pocketmt";
    private static final String ASSET_ROOT = "bundles";
    private static final int PAD = 32;

    // One worker thread: every engine call runs there, one at a time (a Translator is not
    // thread-safe), and never on the UI thread, which would freeze during a translation.
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    // one Translator per bundle folder, opened on first use; touched only on the worker thread
    private final Map<Path, Translator> translators = new HashMap<>();
    // folders opened by path, listed again at every refresh; touched only on the worker thread
    private final List<Path> openedDirs = new ArrayList<>();

    private final List<BundleShelf.Entry> pairs = new ArrayList<>();
    private ArrayAdapter<BundleShelf.Entry> pairAdapter;
    private Spinner pairList;
    private EditText pathField;
    private EditText input;
    private CheckBox glossaryOn;
    private EditText glossaryText;
    private Button translateButton;
    private TextView output;
    private TextView stats;

    private AssetManager assets;
    private Path installed; // assets' bundles, copied: files/bundles/NAME
    private Path pushed; // bundles a developer pushes: Android/data/org.pocketmt.demo/files/bundles/NAME
    private Path cache;

    @Override
    protected void onCreate(android.os.Bundle state) {
        super.onCreate(state);
        assets = getAssets();
        installed = new File(getFilesDir(), ASSET_ROOT).toPath();
        File external = getExternalFilesDir(ASSET_ROOT);
        pushed = external != null ? external.toPath() : null;
        cache = getCacheDir().toPath();
        setContentView(buildUi());
        refreshPairs(null);
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        // the activity handles rotation itself (AndroidManifest.xml), so this is the end: free the models
        worker.execute(() -> {
            for (Translator t : translators.values()) {
                t.close();
            }
            translators.clear();
        });
        worker.shutdown();
    }

    private View buildUi() {
        LinearLayout column = new LinearLayout(this);
        column.setOrientation(LinearLayout.VERTICAL);
        column.setPadding(PAD, PAD, PAD, PAD);

        column.addView(label("Language pair"));
        pairList = new Spinner(this);
        pairAdapter = new ArrayAdapter<>(this, android.R.layout.simple_spinner_item, pairs);
        pairAdapter.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        pairList.setAdapter(pairAdapter);
        column.addView(pairList);

        LinearLayout pathRow = new LinearLayout(this);
        pathRow.setOrientation(LinearLayout.HORIZONTAL);
        pathField = new EditText(this);
        pathField.setHint("or a bundle folder on this device");
        pathField.setInputType(InputType.TYPE_CLASS_TEXT | InputType.TYPE_TEXT_VARIATION_URI);
        pathRow.addView(pathField, new LinearLayout.LayoutParams(0, ViewGroup.LayoutParams.WRAP_CONTENT, 1f));
        Button add = new Button(this);
        add.setText("Open");
        add.setOnClickListener(v -> {
            String p = pathField.getText().toString().trim();
            if (p.isEmpty()) {
                return;
            }
            try {
                refreshPairs(Paths.get(p));
            } catch (InvalidPathException e) {
                stats.setText("Not a path: " + e.getMessage());
            }
        });
        pathRow.addView(add);
        column.addView(pathRow);

        input = multiLine("Text to translate", 3);
        column.addView(input);

        glossaryOn = new CheckBox(this);
        glossaryOn.setText("Glossary: one term per line, source<TAB>target[<TAB>alt|alt]");
        column.addView(glossaryOn);
        glossaryText = multiLine("dog\tHund", 2);
        column.addView(glossaryText);

        translateButton = new Button(this);
        translateButton.setText("Translate");
        translateButton.setOnClickListener(v -> translate());
        column.addView(translateButton);

        output = new TextView(this);
        output.setTextSize(20f);
        output.setTextIsSelectable(true);
        output.setPadding(0, PAD, 0, PAD);
        column.addView(output);
        stats = label("");
        column.addView(stats);

        ScrollView scroll = new ScrollView(this);
        scroll.addView(column);
        return scroll;
    }

    private TextView label(String text) {
        TextView t = new TextView(this);
        t.setText(text);
        return t;
    }

    private EditText multiLine(String hint, int lines) {
        EditText e = new EditText(this);
        e.setHint(hint);
        e.setMinLines(lines);
        e.setInputType(InputType.TYPE_CLASS_TEXT | InputType.TYPE_TEXT_FLAG_MULTI_LINE);
        return e;
    }

    /** Copy the APK's bundles if needed, list every bundle found, and select {@code wanted} if given. */
    private void refreshPairs(Path wanted) {
        stats.setText("Looking for bundles…"); // the first launch copies the APK's bundles: it can take a while
        worker.execute(() -> {
            String message = "";
            try {
                List<String> copied = BundleShelf.install(new AssetSource(assets), ASSET_ROOT, installed);
                if (!copied.isEmpty()) {
                    message = "Installed from the APK: " + String.join(", ", copied);
                }
            } catch (IOException e) {
                message = "Could not copy the APK's bundles: " + e.getMessage();
                Log.e(TAG, message, e);
            }
            List<Path> roots = new ArrayList<>();
            roots.add(installed);
            roots.add(pushed);
            List<BundleShelf.Entry> found = BundleShelf.scan(roots);
            for (Path dir : openedDirs) {
                if (indexOf(found, dir) < 0) {
                    try {
                        found.add(BundleShelf.describe(dir));
                    } catch (PocketMtException e) {
                        // gone or changed since it was opened: no longer offered
                    }
                }
            }
            int select = found.isEmpty() ? -1 : 0;
            if (wanted != null) {
                try {
                    BundleShelf.Entry e = BundleShelf.describe(wanted.toAbsolutePath().normalize());
                    select = indexOf(found, e.dir);
                    if (select < 0) {
                        found.add(e);
                        openedDirs.add(e.dir);
                        select = found.size() - 1;
                    }
                } catch (PocketMtException e) {
                    message = e.getMessage();
                }
            }
            if (found.isEmpty()) {
                message = "No bundle found. Put exported bundles (pocketmt export --format pte) in the APK's "
                        + "assets/bundles/ or push them to " + pushed;
            }
            String status = message;
            int selected = select;
            runOnUiThread(() -> {
                pairs.clear();
                pairs.addAll(found);
                pairAdapter.notifyDataSetChanged();
                if (selected >= 0) {
                    pairList.setSelection(selected);
                }
                stats.setText(status);
            });
        });
    }

    private static int indexOf(List<BundleShelf.Entry> entries, Path dir) {
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i).dir.equals(dir)) {
                return i;
            }
        }
        return -1;
    }

    private void translate() {
        int i = pairList.getSelectedItemPosition();
        if (i < 0 || i >= pairs.size()) {
            stats.setText("Choose a language pair first.");
            return;
        }
        BundleShelf.Entry pair = pairs.get(i);
        String text = input.getText().toString();
        String terms = glossaryOn.isChecked() ? glossaryText.getText().toString() : null;
        translateButton.setEnabled(false);
        stats.setText("Translating…");
        worker.execute(() -> {
            String result = "";
            String report;
            try {
                String opened = "";
                Translator translator = translators.get(pair.dir);
                if (translator == null) {
                    long began = System.nanoTime();
                    // "executorch": check (sha256) only the files the phone reads, and refuse a bundle
                    // without a .pte before hashing its ONNX files for nothing
                    translator = Translator.open(pair.dir, new ModuleStepFactory(), "executorch");
                    translators.put(pair.dir, translator);
                    opened = String.format(Locale.ROOT, "model opened in %.0f ms\n", (System.nanoTime() - began) / 1e6);
                }
                TranslateOptions options = TranslateOptions.defaults();
                Glossary glossary = terms == null ? null : glossary(terms, translator.manifest());
                if (glossary != null) {
                    options = options.withGlossary(glossary);
                }
                Translation t = translator.translate(text, options);
                result = t.text();
                report = opened + describe(t, translator.searchConfig(options).beamSize);
            } catch (PocketMtException | GlossaryException | IOException | RuntimeException e) {
                Log.e(TAG, "translation failed", e);
                report = "Error: " + e.getMessage();
            }
            String shown = result;
            String line = report;
            runOnUiThread(() -> {
                output.setText(shown);
                stats.setText(line);
                translateButton.setEnabled(true);
            });
        });
    }

    /** The text box as a TSV glossary file (the engine reads glossaries from files, as the CLI does). */
    private Glossary glossary(String tsv, Manifest manifest) throws GlossaryException, IOException {
        if (tsv.trim().isEmpty()) {
            return null;
        }
        Path file = cache.resolve("glossary.tsv");
        Files.write(file, tsv.getBytes(StandardCharsets.UTF_8));
        return GlossaryReader.load(file, manifest.model.sourceLang(), manifest.model.targetLang());
    }

    /** Latency, token count and the terms, in a few lines under the translation. */
    static String describe(Translation t, int beam) {
        Timings ms = t.timings();
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT,
                "%d tokens · %.0f ms (tokenize %.1f, encode %.0f, decode %.0f ms in %d steps) · beam %d",
                t.tokenIds().length, ms.totalMs(), ms.tokenizeMs(), ms.encodeMs(), ms.decodeMs(), ms.steps(), beam));
        if (t.segments() > 1) {
            b.append(" · ").append(t.segments()).append(" pieces");
        }
        for (TermResult term : t.terms()) {
            b.append('\n').append(term.source()).append(" → ")
                    .append(term.produced() != null ? term.produced() + " ✓" : String.join(" | ", term.required()) + " ✗");
        }
        if (t.constraintsDropped()) {
            b.append("\nSome terms could not be met together: that piece was translated without them.");
        }
        for (String w : t.warnings()) {
            b.append("\n⚠ ").append(w);
        }
        return b.toString();
    }

    /** {@link BundleShelf.Assets} over the APK's assets. */
    private static final class AssetSource implements BundleShelf.Assets {
        private final AssetManager assets;

        AssetSource(AssetManager assets) {
            this.assets = assets;
        }

        @Override
        public String[] list(String path) throws IOException {
            return assets.list(path);
        }

        @Override
        public java.io.InputStream open(String path) throws IOException {
            return assets.open(path);
        }
    }
}
