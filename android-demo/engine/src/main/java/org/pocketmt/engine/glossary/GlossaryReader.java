package org.pocketmt.engine.glossary;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.xml.XMLConstants;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.parsers.SAXParser;
import javax.xml.parsers.SAXParserFactory;
import org.xml.sax.Attributes;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;
import org.xml.sax.ext.DefaultHandler2;

/**
 * Reading glossaries (TSV, CSV, TBX, WMT 2023 JSON), as {@code runtime/glossary.py}'s {@code load_glossary},
 * with its one-line error messages.
 */
public final class GlossaryReader {
    private GlossaryReader() {}

    /** {@code Path.suffix.lower()}: the last ".ext" of the name, none for ".hidden" or "name.". */
    static String suffix(Path p) {
        String name = p.getFileName() == null ? "" : p.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 && dot < name.length() - 1 ? name.substring(dot).toLowerCase(Locale.ROOT) : "";
    }

    public static Glossary load(Path path, String sourceLang, String targetLang, String onConflict)
            throws GlossaryException {
        if (!Files.isRegularFile(path)) throw new GlossaryException("glossary not found: " + path);
        byte[] raw;
        try {
            raw = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new GlossaryException(path + ": cannot read the glossary (" + strerror(e) + ")");
        }
        String suffix = suffix(path);
        List<Term> terms;
        if (suffix.equals(".tbx") || suffix.equals(".xml")) {
            terms = readTbx(raw, path.toString(), sourceLang, targetLang);
        } else {
            String text = decodeUtf8Sig(raw, path.toString());
            if (suffix.equals(".json") || suffix.equals(".jsonl")) {
                terms = readJson(text, path.toString(), sourceLang, targetLang);
            } else {
                terms = readDelimited(text, path.toString(), suffix.equals(".csv") ? ',' : '\t');
            }
        }
        return Glossary.fromTerms(terms, onConflict, path.toString());
    }

    public static Glossary load(Path path, String sourceLang, String targetLang) throws GlossaryException {
        return load(path, sourceLang, targetLang, "error");
    }

    /**
     * Python's {@code OSError.strerror} for a failed read: Java words EACCES and ENOENT as exception types
     * (with the path as message), and gives the C library's text for the rest.
     */
    static String strerror(IOException e) {
        if (e instanceof AccessDeniedException) return "Permission denied";
        if (e instanceof NoSuchFileException) return "No such file or directory";
        if (e instanceof FileSystemException && ((FileSystemException) e).getReason() != null) {
            return ((FileSystemException) e).getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** {@code raw.decode("utf-8-sig")}; an error names the line of the bad byte as Python computes it. */
    static String decodeUtf8Sig(byte[] raw, String where) throws GlossaryException {
        int prefix = raw.length >= 3 && (raw[0] & 0xff) == 0xef && (raw[1] & 0xff) == 0xbb && (raw[2] & 0xff) == 0xbf ? 3 : 0;
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(raw, prefix, raw.length - prefix);
        CharBuffer out = CharBuffer.allocate(raw.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            // Python's utf-8-sig decodes raw[3:] after a BOM, so exc.start is relative to it, and the line is
            // counted over raw[:exc.start]: the same offset taken from the start of the file
            int start = in.position() - prefix;
            int line = 1;
            for (int i = 0; i < start; i++) if (raw[i] == '\n') line++;
            throw new GlossaryException(where + ":" + line + ": invalid UTF-8");
        }
        out.flip();
        return out.toString();
    }

    private static List<String> splitForms(String cell) {
        List<String> out = new ArrayList<>();
        if (cell.indexOf('|') < 0) {
            String f = PyText.strip(cell);
            if (!f.isEmpty()) out.add(f);
            return out;
        }
        for (String f : cell.split("\\|", -1)) {
            String s = PyText.strip(f);
            if (!s.isEmpty()) out.add(s);
        }
        return out;
    }

    private static boolean isHeaderCell(String cell, String word) {
        String s = PyText.strip(cell);
        // Python's .lower(): no non-ASCII letter lowers to one of these ASCII words, so ASCII lowering is exact
        for (int i = 0; i < s.length(); i++) if (s.charAt(i) > 0x7f) return false;
        return s.toLowerCase(Locale.ROOT).equals(word);
    }

    static List<Term> readDelimited(String text, String where, char delimiter) throws GlossaryException {
        List<Term> terms = new ArrayList<>();
        PyCsv.Records records = PyCsv.read(text, delimiter);
        String d = PyText.repr(String.valueOf(delimiter));
        int number = 0;
        for (List<String> row : records.rows) {
            number++;
            String first = row.isEmpty() ? "" : PyText.strip(row.get(0));
            if ((first.isEmpty() && PyText.strip(String.join("", row)).isEmpty()) || first.startsWith("#")) continue;
            if (number == 1 && row.size() >= 2 && isHeaderCell(row.get(0), "source") && isHeaderCell(row.get(1), "target")) {
                continue;
            }
            if (row.size() < 2 || first.isEmpty()) {
                throw new GlossaryException(where + ":" + number + ": expected source" + d + "target[" + d + "alternatives"
                        + d + "note], got " + PyText.repr(PyText.head(String.join(String.valueOf(delimiter), row), 60)));
            }
            List<String> targets = splitForms(row.get(1));
            if (row.size() > 2) targets.addAll(splitForms(row.get(2)));
            if (targets.isEmpty()) {
                throw new GlossaryException(where + ":" + number + ": empty target term for " + PyText.repr(PyText.strip(row.get(0))));
            }
            terms.add(new Term(PyText.strip(row.get(0)), new ArrayList<>(new LinkedHashSet<>(targets)),
                    row.size() > 3 ? PyText.strip(row.get(3)) : ""));
        }
        if (records.error != null) { // after the rows before it, as Python's reader raises when it gets there
            throw new GlossaryException(where + ":" + records.errorLine + ": unreadable line (" + records.error + ")");
        }
        return terms;
    }

    /** One element of a TBX file: what {@code _read_tbx} looks at. */
    private static final class Element {
        final String local;
        final String lang;
        final StringBuilder text = new StringBuilder(); // ElementTree's .text: before the first child
        boolean hasChild;
        final List<Element> children = new ArrayList<>();

        Element(String local, String lang) {
            this.local = local;
            this.lang = lang;
        }

        void preorder(List<Element> out) {
            out.add(this);
            for (Element c : children) c.preorder(out);
        }
    }

    /** Builds the element tree; refuses entity declarations as defusedxml does (DTDs themselves are allowed). */
    private static final class TreeBuilder extends DefaultHandler2 {
        final Deque<Element> open = new ArrayDeque<>();
        Element root;

        @Override
        public void startElement(String uri, String localName, String qName, Attributes attrs) {
            String lang = attrs.getValue(XMLConstants.XML_NS_URI, "lang");
            if (lang == null || lang.isEmpty()) lang = attrs.getValue("", "lang");
            Element e = new Element(localName.isEmpty() ? qName : localName, lang == null ? "" : lang);
            if (open.isEmpty()) root = e;
            else {
                open.peek().children.add(e);
                open.peek().hasChild = true;
            }
            open.push(e);
        }

        @Override
        public void endElement(String uri, String localName, String qName) {
            open.pop();
        }

        @Override
        public void characters(char[] ch, int start, int length) {
            Element e = open.peek();
            if (e != null && !e.hasChild) e.text.append(ch, start, length);
        }

        private static String pyStr(String s) {
            return s == null ? "None" : PyText.repr(s);
        }

        @Override
        public void internalEntityDecl(String name, String value) throws SAXException {
            throw new SAXException("EntitiesForbidden(name='" + name + "', system_id=None, public_id=None)");
        }

        @Override
        public void externalEntityDecl(String name, String publicId, String systemId) throws SAXException {
            throw new SAXException("EntitiesForbidden(name='" + name + "', system_id=" + pyStr(systemId)
                    + ", public_id=" + pyStr(publicId) + ")");
        }

        @Override
        public void unparsedEntityDecl(String name, String publicId, String systemId, String notation) throws SAXException {
            throw new SAXException("EntitiesForbidden(name='" + name + "', system_id=" + pyStr(systemId)
                    + ", public_id=" + pyStr(publicId) + ")");
        }

        @Override
        public InputSource resolveEntity(String name, String publicId, String baseURI, String systemId) {
            return new InputSource(new StringReader("")); // never fetch anything: an external DTD reads as empty
        }
    }

    private static Element parseXml(byte[] raw)
            throws SAXException, IOException, ParserConfigurationException, PyXmlEncoding.Refused {
        String decoded = PyXmlEncoding.decode(raw); // an encoding expat leaves to Python's codecs
        SAXParserFactory factory = SAXParserFactory.newInstance();
        factory.setNamespaceAware(true);
        factory.setValidating(false);
        factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
        factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        SAXParser parser = factory.newSAXParser();
        TreeBuilder builder = new TreeBuilder();
        parser.setProperty("http://xml.org/sax/properties/declaration-handler", builder);
        parser.setProperty("http://xml.org/sax/properties/lexical-handler", builder);
        if (decoded != null) parser.parse(new InputSource(new StringReader(decoded)), builder);
        else parser.parse(new ByteArrayInputStream(raw), builder);
        return builder.root;
    }

    static List<Term> readTbx(byte[] raw, String where, String sourceLang, String targetLang) throws GlossaryException {
        Element root;
        try {
            root = parseXml(raw);
        } catch (PyXmlEncoding.Refused e) { // Python's words: "unknown encoding: foo", "multi-byte encodings ..."
            throw new GlossaryException(where + ": not a readable TBX file (" + e.getMessage() + ")");
        } catch (SAXException | IOException | ParserConfigurationException e) {
            // Python shows expat's or defusedxml's message here; Java's parser words its own
            throw new GlossaryException(where + ": not a readable TBX file (" + e.getMessage() + ")");
        }
        List<Element> all = new ArrayList<>();
        root.preorder(all);
        List<Term> terms = new ArrayList<>();
        for (Element entry : all) {
            if (!entry.local.equals("termEntry") && !entry.local.equals("conceptEntry")) continue;
            Map<String, List<String>> byLang = new LinkedHashMap<>();
            for (Element langSet : entry.children) {
                if (!langSet.local.equals("langSet")) continue;
                String lang = langSet.lang.split("-", -1)[0].toLowerCase(Locale.ROOT);
                List<Element> nodes = new ArrayList<>();
                langSet.preorder(nodes);
                for (Element node : nodes) {
                    String text = PyText.strip(node.text.toString());
                    if (node.local.equals("term") && !text.isEmpty()) byLang.computeIfAbsent(lang, l -> new ArrayList<>()).add(text);
                }
            }
            List<String> targets = byLang.get(targetLang);
            for (String src : byLang.getOrDefault(sourceLang, List.of())) {
                if (targets != null && !targets.isEmpty()) terms.add(new Term(src, new ArrayList<>(new LinkedHashSet<>(targets))));
            }
        }
        if (terms.isEmpty()) {
            throw new GlossaryException(where + ": no term entries with both " + sourceLang + " and " + targetLang + " terms");
        }
        return terms;
    }

    /** WMT 2023 terminology: a list of {@code {"de": "...", "en": "..."}} objects (the target may be a list). */
    static List<Term> termsFromWmt(Object items, String sourceLang, String targetLang, String where) throws GlossaryException {
        if (!(items instanceof List)) throw new GlossaryException(where + ": expected a JSON list of term objects");
        List<Term> terms = new ArrayList<>();
        for (Object item : (List<?>) items) {
            if (!(item instanceof Map) || !(((Map<?, ?>) item).get(sourceLang) instanceof String)) {
                throw new GlossaryException(where + ": each term must be an object with " + PyText.repr(sourceLang)
                        + " and " + PyText.repr(targetLang));
            }
            Map<?, ?> obj = (Map<?, ?>) item;
            Object target = obj.get(targetLang);
            List<?> forms = target instanceof List ? (List<?>) target : java.util.Collections.singletonList(target);
            LinkedHashSet<String> kept = new LinkedHashSet<>();
            for (Object f : forms) {
                if (!(f instanceof String)) {
                    throw new GlossaryException(where + ": " + PyText.repr(targetLang) + " must be a string or a list of strings");
                }
                if (!PyText.strip((String) f).isEmpty()) kept.add((String) f);
            }
            terms.add(new Term((String) obj.get(sourceLang), new ArrayList<>(kept)));
        }
        checkUnicode(terms, where);
        return terms;
    }

    /** {@code _check_unicode}: a lone surrogate (half of a pair escaped alone in JSON) cannot reach the tokenizer. */
    static void checkUnicode(List<Term> terms, String where) throws GlossaryException {
        for (Term term : terms) {
            List<String> texts = new ArrayList<>();
            texts.add(term.source);
            texts.addAll(term.targets);
            for (String text : texts) {
                int position = 0; // in code points, as Python's exc.start
                for (int at = 0; at < text.length(); position++) {
                    int cp = text.codePointAt(at); // a surrogate only when it is not half of a pair
                    if (cp >= Character.MIN_SURROGATE && cp <= Character.MAX_SURROGATE) {
                        throw new GlossaryException(where + ": term " + PyText.repr(text)
                                + " is not valid Unicode (lone surrogate at position " + position + ")");
                    }
                    at += Character.charCount(cp);
                }
            }
        }
    }

    /** {@code parse_json}: {@code json.loads} with every way it fails as a one-line error naming {@code where}. */
    static Object parseJson(String text, String where) throws GlossaryException {
        try {
            return PyJson.loads(text);
        } catch (PyJson.Error e) {
            switch (e.kind) {
                case TOO_DEEP:
                    throw new GlossaryException(where + ": JSON nested too deeply to read");
                case TOO_LONG:
                    throw new GlossaryException(where + ": not usable JSON (" + e.getMessage() + ")");
                default:
                    throw new GlossaryException(where + ": not valid JSON (" + e.getMessage() + ")");
            }
        }
    }

    static List<Term> readJson(String text, String where, String sourceLang, String targetLang) throws GlossaryException {
        List<Term> terms = new ArrayList<>();
        Object whole;
        try { // one JSON list for the whole file
            whole = parseJson(text, where);
        } catch (GlossaryException e) {
            whole = null; // JSON lines, or an error the line-by-line reading names with its line
        }
        if (whole instanceof List && ((List<?>) whole).stream().allMatch(x -> x instanceof Map)) {
            terms = termsFromWmt(whole, sourceLang, targetLang, where);
        }
        if (!terms.isEmpty()) return terms;
        int number = 0;
        for (String line : splitLines(text)) {
            number++;
            if (PyText.strip(line).isEmpty()) continue;
            String at = where + ":" + number;
            terms.addAll(termsFromWmt(parseJson(line, at), sourceLang, targetLang, at));
        }
        return terms;
    }

    /** Python's {@code str.splitlines()}: \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029 end a line. */
    static List<String> splitLines(String text) {
        List<String> out = new ArrayList<>();
        int start = 0, i = 0, n = text.length();
        while (i < n) {
            char c = text.charAt(i);
            boolean end = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e
                    || c == 0x85 || c == 0x2028 || c == 0x2029;
            if (!end) {
                i++;
                continue;
            }
            out.add(text.substring(start, i));
            i += c == '\r' && i + 1 < n && text.charAt(i + 1) == '\n' ? 2 : 1;
            start = i;
        }
        if (start < n) out.add(text.substring(start));
        return out;
    }
}
