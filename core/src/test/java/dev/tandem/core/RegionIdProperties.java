package dev.tandem.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.regex.Pattern;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Chars;
import net.jqwik.api.constraints.StringLength;

/**
 * RegionId validates without a regex and caches its instances (issue 20: {@code RegionId.of} ran a
 * regex per decoded changelog record). The rule must stay the documented one.
 */
class RegionIdProperties {

  /** The documented rule, as the regex it used to be checked with. */
  private static final Pattern RULE = Pattern.compile("[a-z0-9][a-z0-9-]{0,31}");

  @Property(tries = 2000)
  void acceptsExactlyTheDocumentedNames(
      @ForAll @StringLength(min = 0, max = 34) @Chars({'a', 'z', 'q', '0', '9', '-', 'A', '_', '|', ' ', 'é'})
          String name) {
    boolean expected = RULE.matcher(name).matches();
    if (expected) {
      assertEquals(name, RegionId.of(name).name());
      assertEquals(name, new RegionId(name).name());
    } else {
      assertThrows(IllegalArgumentException.class, () -> RegionId.of(name));
      assertThrows(IllegalArgumentException.class, () -> new RegionId(name));
    }
  }

  @Example
  void ofAnswersOneInstancePerNameAndStillRejectsNull() {
    assertSame(RegionId.of("region-a"), RegionId.of(new String("region-a")));
    assertEquals(RegionId.of("region-a"), new RegionId("region-a"));
    assertThrows(IllegalArgumentException.class, () -> RegionId.of(null));
    assertThrows(IllegalArgumentException.class, () -> RegionId.of(""));
    assertThrows(IllegalArgumentException.class, () -> RegionId.of("-a"));
    assertThrows(IllegalArgumentException.class, () -> RegionId.of("a".repeat(33)));
    assertEquals("a".repeat(32), RegionId.of("a".repeat(32)).name());
  }
}
