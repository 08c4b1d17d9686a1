import unittest

from counter.app import count_words
from greeter.app import greet


class AppTest(unittest.TestCase):
    def test_greet(self):
        self.assertIn("Ada", greet("Ada"))

    def test_count_words(self):
        self.assertEqual(count_words("one two three"), 3)


if __name__ == "__main__":
    unittest.main()
