"""Multi-turn topics: connected questions a user asks one after another (later ones lean on earlier answers).

Each row: (question, answer, aliases, first sentence stating the answer, one more true sentence).
"""

from __future__ import annotations

TOPICS: tuple[tuple[str, tuple[tuple[str, str, tuple[str, ...], str, str], ...]], ...] = (
    ("the solar system", (
        ("How many planets are in our solar system?", "8", (), "There are eight planets in our solar system.", "Pluto was reclassified as a dwarf planet in two thousand six."),
        ("And which one is the biggest?", "Jupiter", (), "The biggest planet is Jupiter.", "It is so large that all the other planets would fit inside it."),
        ("What about the smallest?", "Mercury", (), "The smallest planet is Mercury.", "It is also the closest planet to the Sun."),
        ("Which planet has the famous rings?", "Saturn", (), "That would be Saturn.", "Its rings are made of ice and rock, and they are very thin compared to how wide they are."),
    )),
    ("France", (
        ("What is the capital of France?", "Paris", (), "The capital of France is Paris.", "It sits on the river Seine in the north of the country."),
        ("What is the famous iron tower there called?", "the Eiffel Tower", ("eiffel tower",), "That is the Eiffel Tower.", "It was built for the world's fair in eighteen eighty nine."),
        ("What currency does France use?", "the euro", ("euro", "euros"), "France uses the euro.", "It replaced the French franc at the start of two thousand two."),
    )),
    ("the human body", (
        ("How many bones does an adult have?", "206", (), "An adult human has two hundred and six bones.", "More than half of them are in the hands and feet."),
        ("Which is the longest one?", "the femur", ("femur", "thigh bone"), "The longest bone is the femur, the thigh bone.", "It is also one of the strongest bones in the body."),
        ("And what is the largest organ?", "the skin", ("skin",), "The largest organ is the skin.", "It protects us and helps keep our temperature steady."),
    )),
    ("water", (
        ("At what temperature does water boil in Celsius?", "100", (), "Water boils at one hundred degrees Celsius at sea level.", "Up in the mountains it boils at a lower temperature."),
        ("And when does it freeze?", "0", (), "It freezes at zero degrees Celsius.", "Salt water freezes at a slightly lower temperature."),
        ("Why does ice float then?", "less dense", ("density", "lighter"), "Ice floats because it is less dense than liquid water.", "When water freezes its molecules line up in an open pattern that takes more space."),
    )),
    ("the Moon landing", (
        ("In what year did people first land on the Moon?", "1969", ("nineteen sixty nine",), "People first landed on the Moon in nineteen sixty nine.", "It was the Apollo eleven mission."),
        ("Who was the first person to walk on it?", "Neil Armstrong", ("armstrong",), "The first person on the Moon was Neil Armstrong.", "Buzz Aldrin followed him about twenty minutes later."),
        ("How long did the trip there take?", "3 days", ("three days", "about three days"), "The trip to the Moon took about three days.", "They launched on the sixteenth of July and landed on the twentieth."),
    )),
    ("animals", (
        ("What is the fastest land animal?", "the cheetah", ("cheetah",), "The fastest land animal is the cheetah.", "It can only keep up its top speed for a short sprint."),
        ("And the largest animal?", "the blue whale", ("blue whale",), "The largest animal is the blue whale.", "Its heart alone can weigh as much as a small car."),
        ("Is a whale a fish?", "no", ("mammal", "it is a mammal"), "No, a whale is a mammal, not a fish.", "Whales breathe air and feed their young with milk."),
        ("How do whales breathe then?", "blowhole", ("blowholes", "through a blowhole"), "Whales breathe through a blowhole on top of their head.", "They come up to the surface to breathe out and take in fresh air."),
    )),
    ("Japan", (
        ("What is the capital of Japan?", "Tokyo", (), "The capital of Japan is Tokyo.", "The greater Tokyo area is one of the most populous in the world."),
        ("What is the tallest mountain there?", "Mount Fuji", ("fuji",), "The tallest mountain in Japan is Mount Fuji.", "It is a volcano and it is just under three thousand eight hundred metres high."),
        ("What currency do they use?", "the yen", ("yen",), "Japan uses the yen.", "Coins and notes of the yen come in many different sizes."),
    )),
    ("time", (
        ("How many minutes are in an hour?", "60", (), "There are sixty minutes in an hour.", "Counting in sixties goes back to the ancient Babylonians."),
        ("And how many seconds in a minute?", "60", (), "There are also sixty seconds in a minute.", "So an hour has three thousand six hundred seconds."),
        ("How many hours in a week then?", "168", (), "There are one hundred and sixty eight hours in a week.", "That is twenty four hours times seven days."),
    )),
    ("the Second World War", (
        ("When did the Second World War end?", "1945", ("nineteen forty five",), "The Second World War ended in nineteen forty five.", "It ended in Europe in May and in the Pacific in September."),
        ("And when did it start?", "1939", ("nineteen thirty nine",), "It started in nineteen thirty nine.", "Germany invaded Poland on the first of September."),
        ("What organisation was set up after it to keep peace?", "the United Nations", ("united nations", "un"), "The United Nations was founded to keep the peace.", "Its headquarters are in New York."),
    )),
    ("music", (
        ("How many keys does a standard piano have?", "88", (), "A standard piano has eighty eight keys.", "Fifty two of them are white and thirty six are black."),
        ("How many strings does a guitar usually have?", "6", (), "A guitar usually has six strings.", "Bass guitars usually have four."),
        ("Which composer wrote the Moonlight Sonata?", "Beethoven", ("ludwig van beethoven",), "The Moonlight Sonata was written by Beethoven.", "The famous name was given to it by a critic after Beethoven's death."),
    )),
    ("Italy", (
        ("What is the capital of Italy?", "Rome", (), "The capital of Italy is Rome.", "It is often called the eternal city."),
        ("Which famous arena is there?", "the Colosseum", ("colosseum",), "That is the Colosseum.", "It could hold tens of thousands of spectators."),
        ("Which city in Italy is built on canals?", "Venice", (), "The city built on canals is Venice.", "Instead of streets many of its routes are waterways."),
    )),
    ("shapes", (
        ("How many sides does a hexagon have?", "6", (), "A hexagon has six sides.", "Honeycomb cells are hexagons."),
        ("And an octagon?", "8", (), "An octagon has eight sides.", "A stop sign is an octagon."),
        ("How many degrees are in a triangle?", "180", (), "The angles of a triangle add up to one hundred and eighty degrees.", "That is true for every flat triangle, whatever its shape."),
    )),
    ("weather", (
        ("What do you call a scientist who studies the weather?", "a meteorologist", ("meteorologist",), "A scientist who studies the weather is a meteorologist.", "They use satellites, radar and computer models to make forecasts."),
        ("What is frozen rain called?", "sleet", ("hail", "freezing rain"), "Frozen rain is usually called sleet.", "Hail is different: it forms in storm clouds as layers of ice."),
        ("And what causes thunder?", "lightning", ("a lightning bolt",), "Thunder is caused by lightning.", "The lightning heats the air so fast that it expands with a bang."),
    )),
)
