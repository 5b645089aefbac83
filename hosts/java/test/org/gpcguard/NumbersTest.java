package org.gpcguard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Reason and Result carry exactly the numbers of include/gpcguard.h, and the library names them alike. */
class NumbersTest {
    private static final Pattern ENTRY = Pattern.compile("^\\s*GPCGUARD_([A-Z_]+) = (\\d+),", Pattern.MULTILINE);

    /** The entries of one enum of the header (the header has others, e.g. gpcguard_check). */
    private static Map<String, Integer> headerEntries(boolean reasons) throws Exception {
        String header = Files.readString(TestPki.REPO.resolve("include/gpcguard.h"));
        String open = reasons ? "typedef enum gpcguard_reason {" : "typedef enum gpcguard_result {";
        int start = header.indexOf(open);
        assertTrue(start >= 0, "include/gpcguard.h has no " + open);
        String body = header.substring(start, header.indexOf("}", start));
        Map<String, Integer> out = new TreeMap<>();
        Matcher m = ENTRY.matcher(body);
        while (m.find()) {
            out.put(reasons ? m.group(1).substring("REASON_".length()) : m.group(1), Integer.parseInt(m.group(2)));
        }
        return out;
    }

    @Test
    void reasonsEqualTheHeader() throws Exception {
        Map<String, Integer> java = new TreeMap<>();
        for (Reason r : Reason.values()) {
            java.put(r.name(), r.number());
            assertEquals(r, Reason.fromNumber(r.number()));
            assertEquals(r.name(), Guard.reasonName(r.number()), "gpcguard_reason_name");
        }
        assertEquals(headerEntries(true), java);
    }

    @Test
    void resultsEqualTheHeader() throws Exception {
        Map<String, Integer> java = new TreeMap<>();
        for (Result r : Result.values()) {
            java.put(r.name(), r.number());
            assertEquals(r, Result.fromNumber(r.number()));
            assertEquals("GPCGUARD_" + r.name(), Guard.resultName(r.number()), "gpcguard_result_name");
        }
        assertEquals(headerEntries(false), java);
    }

    @Test
    void unknownNumbersAreRefusals() {
        assertEquals(Reason.INTERNAL, Reason.fromNumber(99));
        assertEquals(Reason.INTERNAL, Reason.fromNumber(-1));
        assertEquals("UNKNOWN", Guard.reasonName(99));
        assertEquals("GPCGUARD_UNKNOWN_RESULT", Guard.resultName(99));
    }
}
