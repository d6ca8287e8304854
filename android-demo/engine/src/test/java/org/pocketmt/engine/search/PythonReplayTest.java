package org.pocketmt.engine.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.junit.jupiter.api.Test;
import org.pocketmt.engine.bundle.BundleException;

/**
 * Replays the Python search's results (tools/search_cases.py) on the same log-prob tables: tokens, score and
 * normalized score bit for bit, finished, met and constraintsDropped must be identical.
 */
class PythonReplayTest {
    private static JSONObject load() throws IOException, JSONException {
        try (InputStream in = PythonReplayTest.class.getResourceAsStream("search_cases.json")) {
            assertNotNull(in, "search_cases.json (run android-demo/engine/tools/search_cases.py)");
            return new JSONObject(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    static int[] ints(JSONArray a) throws JSONException {
        int[] out = new int[a.length()];
        for (int i = 0; i < out.length; i++) out[i] = a.getInt(i);
        return out;
    }

    private static float f32(String hex) {
        return Float.intBitsToFloat((int) Long.parseLong(hex, 16));
    }

    /** A step model that answers only the prefixes Python asked for. */
    private static TableStep recorded(int vocab, JSONObject table) throws JSONException {
        Map<String, float[]> rows = new HashMap<>();
        for (String key : iterable(table.keys())) {
            String hex = table.getString(key);
            float[] row = new float[vocab];
            for (int v = 0; v < vocab; v++) row[v] = f32(hex.substring(v * 8, v * 8 + 8));
            rows.put(key, row);
        }
        return new TableStep(vocab, prefix -> {
            String key = prefix.stream().map(String::valueOf).collect(Collectors.joining(","));
            float[] row = rows.get(key);
            if (row == null) throw new IllegalStateException("Python never asked for prefix [" + key + "]");
            return row;
        });
    }

    @SuppressWarnings("unchecked")
    private static Iterable<String> iterable(java.util.Iterator<?> it) {
        return () -> (java.util.Iterator<String>) it;
    }

    @Test
    void everyCaseIsIdenticalToPython() throws Exception {
        JSONArray cases = load().getJSONArray("cases");
        List<String> failures = new ArrayList<>();
        int sensitive = 0, errors = 0;
        for (int i = 0; i < cases.length(); i++) if (cases.getJSONObject(i).getJSONObject("expected").has("error")) errors++;
        for (int i = 0; i < cases.length(); i++) {
            JSONObject c = cases.getJSONObject(i);
            try {
                String diff = replay(c);
                if (diff != null) failures.add("case " + i + " (" + c.getString("kind") + "): " + diff);
                else if (c.optBoolean("order_sensitive")) sensitive++;
            } catch (RuntimeException e) {
                failures.add("case " + i + " (" + c.getString("kind") + "): " + e);
            }
        }
        System.out.println("python replay: " + (cases.length() - failures.size()) + " of " + cases.length() + " identical ("
                + sensitive + " of them depend on the sorted visiting order of partial triples, " + errors
                + " stop on a broken model)");
        assertTrue(cases.length() >= 300, "too few cases");
        assertTrue(errors >= 20, "too few broken-model cases (rerun tools/search_cases.py)");
        assertEquals(List.of(), failures);
    }

    private static String replay(JSONObject c) throws JSONException {
        int vocab = c.getInt("vocab");
        JSONObject k = c.getJSONObject("config");
        SearchConfig cfg = new SearchConfig(k.getInt("beam"), k.getInt("max_new"), k.getInt("eos"), k.getInt("start"),
                ints(k.getJSONArray("banned")), k.getDouble("alpha"), k.getBoolean("forced_eos"));
        TableStep model = recorded(vocab, c.getJSONObject("table"));
        int[] src = {1, cfg.eosId};
        JSONObject e = c.getJSONObject("expected");
        Hypothesis hyp;
        try {
            hyp = run(c, model, src, cfg);
        } catch (BundleException broken) { // section 2, item 3: Python stopped too, with the same words
            String want = e.optString("error", null);
            return broken.getMessage().equals(want) ? null : "error " + broken.getMessage() + " != " + (want == null ? e : want);
        }
        if (e.has("error")) return "no error, but Python stopped with: " + e.getString("error");
        int[] tokens = ints(e.getJSONArray("tokens"));
        if (!java.util.Arrays.equals(tokens, hyp.tokens)) return "tokens " + java.util.Arrays.toString(hyp.tokens) + " != " + e.get("tokens");
        if (Float.floatToIntBits(f32(e.getString("score"))) != Float.floatToIntBits(hyp.score)) return "score " + hyp.score + " != " + f32(e.getString("score"));
        if (Float.floatToIntBits(f32(e.getString("normalized"))) != Float.floatToIntBits(hyp.normalized)) return "normalized " + hyp.normalized + " != " + f32(e.getString("normalized"));
        if (e.getBoolean("finished") != hyp.finished) return "finished " + hyp.finished;
        if (e.isNull("met")) {
            if (hyp.met != null) return "met should be absent";
        } else {
            int[] met = ints(e.getJSONArray("met"));
            if (!java.util.Arrays.equals(met, hyp.met)) return "met " + java.util.Arrays.toString(hyp.met) + " != " + e.get("met");
            if (e.getBoolean("dropped") != hyp.constraintsDropped) return "dropped " + hyp.constraintsDropped;
        }
        return null;
    }

    /** The case's search (beam, forced scoring or constrained) on the recorded model. */
    private static Hypothesis run(JSONObject c, TableStep model, int[] src, SearchConfig cfg)
            throws JSONException, BundleException {
        switch (c.getString("kind")) {
            case "beam":
                return BeamSearch.search(model, src, cfg);
            case "score":
                return BeamSearch.scoreTokens(model, src, ints(c.getJSONArray("score_tokens")), cfg);
            default: {
                List<Constraint> cons = new ArrayList<>();
                JSONArray spec = c.getJSONArray("constraints");
                for (int i = 0; i < spec.length(); i++) {
                    JSONArray alts = spec.getJSONObject(i).getJSONArray("alternatives");
                    JSONArray prop = spec.getJSONObject(i).getJSONArray("proposed");
                    int[][] a = new int[alts.length()][];
                    for (int j = 0; j < a.length; j++) a[j] = ints(alts.getJSONArray(j));
                    boolean[] p = new boolean[prop.length()];
                    for (int j = 0; j < p.length; j++) p[j] = prop.getBoolean(j);
                    cons.add(new Constraint(a, "c" + i, p));
                }
                Set<Integer> cont = toSet(ints(c.getJSONArray("continuations")));
                Set<Integer> ends = toSet(ints(c.getJSONArray("word_ends")));
                return ConstrainedSearch.search(model, src, cfg, cons, cont::contains, ends::contains);
            }
        }
    }

    private static Set<Integer> toSet(int[] ids) {
        Set<Integer> out = new HashSet<>();
        for (int i : ids) out.add(i);
        return out;
    }
}
