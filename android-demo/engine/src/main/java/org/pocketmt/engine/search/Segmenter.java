package org.pocketmt.engine.search;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.pocketmt.engine.glossary.PyText;

/**
 * Sentences in, pieces out (docs/decoding.md, section 1): the Java twin of {@code runtime/segment.py}, with
 * the same tables and the same scan, code point by code point. Every input is split into sentences and each
 * is one piece; a sentence too long for the bundle is cut into token chunks, with a warning.
 *
 * <p>{@link #main} streams requests for the Python comparison test: one JSON object a line,
 * {@code {"text": "...", "lang": "de"}} gives {@code {"sentences": [...]}}, {@code {"tables": true}} gives
 * the tables.
 */
public final class Segmenter {
    private Segmenter() {}

    /** The pieces of one text: source ids (each ending in EOS), their texts (null for a cut chunk), warnings. */
    public static final class Segments {
        public final List<int[]> pieces = new ArrayList<>();
        public final List<String> texts = new ArrayList<>();
        public final List<String> warnings = new ArrayList<>();
    }

    // section 1.2: the tables, as in runtime/segment.py
    static final Set<Integer> LINE_BREAKS = codePoints("\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029");
    static final Set<Integer> TERMINATORS =
            codePoints(".!?\u2026\u203c\u2047\u2048\u2049\u061f\u0964\u0965\u3002\uff01\uff1f\uff61");
    static final Set<Integer> CJK_TERMINATORS = codePoints("\u3002\uff01\uff1f\uff61");
    static final Set<Integer> CLOSERS = codePoints("\"')]}\u2019\u201d\u2018\u201c\u00bb\u00ab\u203a\u2039"
            + "\u300d\u300f\uff09\u3011\u3009\u300b\u3015\uff3d\uff63\uff02\uff07");
    static final Set<Integer> SPACED_CLOSERS = codePoints("\u00bb\u203a");
    static final Set<Integer> OPENERS = codePoints("\"'([{\u201c\u2018\u201e\u201a\u00ab\u00bb\u2039\u203a\u00bf\u00a1"
            + "\u300c\u300e\uff08\u3010\u3008\u300a\u3014\uff3b\uff62\uff02\uff07");
    static final Map<String, Set<String>> ABBREVIATIONS = new LinkedHashMap<>();

    static {
        ABBREVIATIONS.put("en", words(
                "Mr Mrs Ms Mx Messrs Dr Prof Sr Jr St Mt Ft Gen Col Capt Lt Sgt Maj Cmdr Adm Rev Hon Gov Sen Rep "
                + "Pres Supt Insp Univ Dept vs v e.g E.g i.e I.e cf Cf viz approx Approx ca No Nos Fig Figs "
                + "Vol Vols vol vols Ch Chap ch Sec sec Sect p pp para Eq eq Feb Mar Apr Jun Jul Aug "
                + "Sep Sept Oct Nov Dec al est ed eds"));
        ABBREVIATIONS.put("de", words(
                "Dr Prof Hr Hrn Fr Frl St Nr Nrn Bd Bde Abb Abs Anm Aufl Bsp bspw Bspw bzw Bzw ca Ca d.h D.h evtl "
                + "Evtl ggf Ggf gem geb Hbf Hg Hrsg i.d.R inkl Inkl insb Insb Jh Jg Kap lt Lt Mio Mrd max min Min "
                + "Sek Std sog Sog Str Tel Tsd u.a u.U u.\u00c4 v.a vgl Vgl z.B Z.B z.T Ziff zzgl exkl o.\u00e4 Feb Apr "
                + "Jun Jul Aug Sep Sept Okt Nov Dez a d i o s u v z"));
        ABBREVIATIONS.put("fr", words(
                "M MM Mme Mmes Mlle Mlles Me Mgr Dr Pr Prof St Ste Sts Stes p pp p.ex P.ex c.-\u00e0-d C.-\u00e0-d cf Cf env "
                + "Env chap \u00e9d ex av apr janv f\u00e9vr avr juil oct nov d\u00e9c bd boul fig Fig"));
        ABBREVIATIONS.put("cs", words(
                "nap\u0159 Nap\u0159 tj Tj tzn Tzn tzv Tzv resp Resp p\u0159\u00edp P\u0159\u00edp pop\u0159 Pop\u0159 str \u010d \u010ds sv Sv Ing Mgr Bc Dr MUDr "
                + "JUDr PhDr RNDr MVDr PaedDr doc Doc prof Prof p p\u00ed sl ul tel mj cca min odst p\u00edsm r st "
                + "stol mil mld kap tab viz Viz"));
    }

    /** Languages that write ordinals with a full stop: a number is one before a lower-case word. */
    static final Set<String> ORDINAL_LANGUAGES = words("de cs sk pl da nb nn no fi hu sl hr sr bs is et lv tr");
    /** Where nouns are capitalised, also before a capitalised word, except these (articles, pronouns, ...). */
    static final Map<String, Set<String>> ORDINAL_BREAKERS = new LinkedHashMap<>();

    static {
        ORDINAL_BREAKERS.put("de", words(
                "Der Die Das Den Dem Des Ein Eine Einen Einem Einer Eines Kein Keine Er Sie Es Ich Du Wir Ihr Man "
                + "Dies Diese Dieser Dieses Jeder Jede Jedes Alle Viele Mehrere Einige Zwei Drei Vier F\u00fcnf Dann Danach "
                + "Da Dort Hier Heute Jetzt Nun So Aber Und Oder Doch Auch Noch Nur Im Am Auf In An Mit Bei Nach Vor "
                + "Von Zu Zum Zur Aus F\u00fcr \u00dcber Unter Wenn Als Weil Wie Was Wer Wo Warum"));
    }

    static final int MAX_ORDINAL_DIGITS = 3;

    private static Set<Integer> codePoints(String s) {
        Set<Integer> out = new HashSet<>();
        s.codePoints().forEach(out::add);
        return Collections.unmodifiableSet(out);
    }

    private static Set<String> words(String s) {
        return Collections.unmodifiableSet(new HashSet<>(Arrays.asList(s.split(" "))));
    }

    /** {@code language}: lower case, the primary subtag ({@code de-CH} to {@code de}); null gives "". */
    public static String language(String code) {
        String c = code == null ? "" : code.toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        int dash = c.indexOf('-');
        return dash < 0 ? c : c.substring(0, dash);
    }

    private static boolean isLower(int cp) {
        String ch = new String(Character.toChars(cp));
        return !PyText.upper(ch).equals(ch);
    }

    private static boolean isUpper(int cp) {
        String ch = new String(Character.toChars(cp));
        return !PyText.casefold(ch).equals(ch) && PyText.upper(ch).equals(ch);
    }

    private static String str(int[] cps, int from, int to) {
        return new String(cps, from, to - from);
    }

    /** {@code _word_before}: the non-space run ending at {@code i}, without its leading openers. */
    private static String wordBefore(int[] t, int i) {
        int b = i;
        while (b > 0 && !PyText.isSpace(t[b - 1])) b--;
        while (b < i && OPENERS.contains(t[b])) b++;
        return str(t, b, i);
    }

    /** {@code _ends_sentence} (section 1.3). */
    private static boolean endsSentence(int[] t, int i, int j, int k, String lang) {
        int n = t.length;
        if (k >= n) return true;
        for (int x = i; x < j; x++) {
            if (CJK_TERMINATORS.contains(t[x])) return true;
        }
        if (!PyText.isSpace(t[k])) return false;
        int m = k;
        while (m < n && PyText.isSpace(t[m])) m++;
        if (m >= n) return true;
        int p = m;
        while (p < n && OPENERS.contains(t[p])) p++;
        boolean lower = p < n && isLower(t[p]);
        boolean bareStop = j - i == 1 && t[i] == '.' && k == j; // one full stop, no closer after it
        String word = bareStop ? wordBefore(t, i) : "";
        boolean ellipsis = false;
        for (int x = i; x < j; x++) if (t[x] == 0x2026) ellipsis = true;
        if (j - i > 1) {
            boolean dots = true;
            for (int x = i; x < j; x++) if (t[x] != '.') dots = false;
            ellipsis = ellipsis || dots;
        }
        if (word.isEmpty() && bareStop) {
            if (t[m] == '.') return false; // inside a spaced ellipsis ". . ."
            int b = i;
            while (b > 0 && PyText.isSpace(t[b - 1])) b--;
            ellipsis = b > 0 && t[b - 1] == '.'; // the last dot of ". . ."
        }
        if (lower && (ellipsis || k > j || word.indexOf('.') >= 0)) return false;
        if (bareStop) {
            if (ABBREVIATIONS.getOrDefault(lang, Set.of()).contains(word)) return false;
            int len = PyText.length(word);
            if (len == 1 && isUpper(word.codePointAt(0))) return false;
            if (ORDINAL_LANGUAGES.contains(lang) && len <= MAX_ORDINAL_DIGITS
                    && word.chars().allMatch(c -> c >= '0' && c <= '9')) {
                int q = p;
                while (q < n && PyText.isAlnum(t[q])) q++;
                if (lower || (ORDINAL_BREAKERS.containsKey(lang) && !ORDINAL_BREAKERS.get(lang).contains(str(t, p, q)))) {
                    return false; // "1. května", "am 3. Mai" (but "Nummer 10. Ein Mann")
                }
            }
        }
        return true;
    }

    /** {@code split_sentences} (section 1.3): the sentences of {@code text}, stripped, none empty, in order. */
    public static List<String> splitSentences(String text, String lang) {
        lang = language(lang);
        int[] t = text.codePoints().toArray();
        int n = t.length;
        List<String> raw = new ArrayList<>();
        int start = 0, i = 0;
        while (i < n) {
            int c = t[i];
            if (LINE_BREAKS.contains(c)) {
                raw.add(str(t, start, i));
                while (i < n && PyText.isSpace(t[i])) i++;
                start = i;
                continue;
            }
            if (!TERMINATORS.contains(c)) {
                i++;
                continue;
            }
            int j = i;
            while (j < n && TERMINATORS.contains(t[j])) j++;
            int k = j;
            while (k < n && CLOSERS.contains(t[k])) k++;
            if (k == j) {
                int m = k;
                while (m < n && PyText.isSpace(t[m]) && !LINE_BREAKS.contains(t[m])) m++;
                if (k < m && m < n && SPACED_CLOSERS.contains(t[m])) {
                    k = m + 1;
                    while (k < n && CLOSERS.contains(t[k])) k++;
                }
            }
            if (endsSentence(t, i, j, k, lang)) {
                raw.add(str(t, start, k));
                i = k;
                while (i < n && PyText.isSpace(t[i])) i++;
                start = i;
            } else {
                i = k;
            }
        }
        raw.add(str(t, start, n));
        List<String> out = new ArrayList<>();
        for (String s : raw) {
            String stripped = PyText.strip(s);
            if (!stripped.isEmpty()) out.add(stripped);
        }
        return out;
    }

    /** {@code split_sentences(text)} with no language: no abbreviation list, no ordinal rule. */
    public static List<String> splitSentences(String text) {
        return splitSentences(text, null);
    }

    /** {@code language_code}: a leading {@code >>xx<<} (the tokenizer's rule), and the text after it. */
    public static String[] languageCode(String text) {
        int end = text.indexOf("<<");
        if (text.startsWith(">>") && end != -1) {
            return new String[] {text.substring(0, end + 2), text.substring(end + 2)};
        }
        return new String[] {"", text};
    }

    /** {@code segment} with no source language. */
    public static Segments segment(String text, Function<String, int[]> encode, int maxLen, int eosId) {
        return segment(text, encode, maxLen, eosId, null);
    }

    /**
     * {@code segment} (section 1.4): one piece per sentence (a leading language code repeated before each);
     * a sentence too long for {@code maxLen} is cut into chunks of {@code maxLen - 1} ids and EOS, with a warning.
     */
    public static Segments segment(String text, Function<String, int[]> encode, int maxLen, int eosId, String lang) {
        String[] split = languageCode(text);
        String code = split[0];
        List<String> sentences = new ArrayList<>();
        for (String s : splitSentences(split[1], lang)) sentences.add(code.isEmpty() ? s : code + " " + s);
        if (sentences.isEmpty()) sentences.add(text);
        Segments out = new Segments();
        for (String sentence : sentences) {
            int[] sentenceIds = encode.apply(sentence);
            if (sentenceIds.length <= maxLen) {
                out.pieces.add(sentenceIds);
                out.texts.add(sentence);
                continue;
            }
            int body = sentenceIds.length - 1;
            int width = maxLen - 1;
            if (width < 1) throw new IllegalArgumentException("range() arg 3 must not be zero"); // Python's error at maxLen 1
            int chunks = 0;
            for (int i = 0; i < body; i += width) {
                int end = Math.min(body, i + width);
                int[] chunk = new int[end - i + 1];
                System.arraycopy(sentenceIds, i, chunk, 0, end - i);
                chunk[end - i] = eosId;
                out.pieces.add(chunk);
                out.texts.add(null);
                chunks++;
            }
            String preview = PyText.length(sentence) <= 40 ? sentence : PyText.head(sentence, 37) + "...";
            out.warnings.add("sentence of " + sentenceIds.length + " tokens exceeds the max source length " + maxLen
                    + "; cut into " + chunks + " pieces: " + PyText.repr(preview));
        }
        return out;
    }

    private static JSONArray sortedCodePoints(Set<Integer> set) {
        return new JSONArray(new TreeSet<>(set));
    }

    static JSONObject tables() throws JSONException {
        JSONObject abbreviations = new JSONObject();
        for (Map.Entry<String, Set<String>> e : ABBREVIATIONS.entrySet()) {
            abbreviations.put(e.getKey(), new JSONArray(new TreeSet<>(e.getValue())));
        }
        JSONObject ordinals = new JSONObject();
        for (Map.Entry<String, Set<String>> e : ORDINAL_BREAKERS.entrySet()) {
            ordinals.put(e.getKey(), new JSONArray(new TreeSet<>(e.getValue())));
        }
        return new JSONObject()
                .put("line_breaks", sortedCodePoints(LINE_BREAKS))
                .put("terminators", sortedCodePoints(TERMINATORS))
                .put("cjk_terminators", sortedCodePoints(CJK_TERMINATORS))
                .put("closers", sortedCodePoints(CLOSERS))
                .put("spaced_closers", sortedCodePoints(SPACED_CLOSERS))
                .put("openers", sortedCodePoints(OPENERS))
                .put("abbreviations", abbreviations)
                .put("ordinal_languages", new JSONArray(new TreeSet<>(ORDINAL_LANGUAGES)))
                .put("ordinal_breakers", ordinals)
                .put("max_ordinal_digits", MAX_ORDINAL_DIGITS);
    }

    /** Requests on stdin, one JSON object a line; one answer a line (see the class comment). */
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintWriter out = new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), false);
        for (String line; (line = in.readLine()) != null; ) {
            if (line.isEmpty()) continue;
            String reply;
            try {
                JSONObject request = new JSONObject(line);
                if (request.optBoolean("tables")) {
                    reply = tables().toString();
                } else {
                    String lang = request.isNull("lang") ? null : request.getString("lang");
                    reply = new JSONObject().put("sentences", new JSONArray(splitSentences(request.getString("text"), lang)))
                            .toString();
                }
            } catch (JSONException | RuntimeException e) {
                reply = "{\"error\": " + JSONObject.quote(String.valueOf(e.getMessage())) + "}";
            }
            out.println(reply);
            out.flush();
        }
    }
}
