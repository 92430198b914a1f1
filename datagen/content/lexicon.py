"""Fixed spoken lines: backchannels, context-independent interruptions, talking to others, background speech and
long user turns told in clauses (where an assistant may backchannel).

A run draws from a :class:`datagen.content.pools.Lexicon`: these pools, replaced or extended by a team's own
files and cut to one side of a held-out split.  The constants here stay as they are: the benchmark's ASR
vocabulary is built from them, and every upper-case name here is a pool of lines.
"""

from __future__ import annotations

from dataclasses import dataclass

USER_BACKCHANNELS: tuple[str, ...] = (
    "mm-hmm", "yeah", "right", "okay", "I see", "uh-huh", "sure", "got it", "oh really", "yep", "mhm", "wow",
    "oh okay", "interesting", "makes sense", "uh-huh, yeah", "right, right", "okay, cool",
)
ASSISTANT_BACKCHANNELS: tuple[str, ...] = (
    "mm-hmm", "right", "I see", "okay", "uh-huh", "yeah", "sure", "got it", "oh", "mhm", "go on", "I understand",
    "oh wow", "of course", "right, okay", "hmm", "yes",
)
INTERRUPTIONS_INDEPENDENT: tuple[str, ...] = (
    "wait, stop", "hold on a second", "okay, that's enough", "sorry, let me stop you there", "stop, stop",
    "hang on", "wait a moment", "okay okay, I got it", "that's enough, thanks", "please stop talking",
    "can you stop for a second", "never mind", "hold on, hold on", "okay, stop there", "sorry to interrupt",
    "wait wait wait", "excuse me, one second", "shh, quiet please", "alright, I get it", "stop please",
    "just a minute", "be quiet for a second", "hey, stop", "hmm, hold that thought", "enough, thank you",
    "pause for a second", "cancel that", "forget it", "no no, stop", "hey, wait up", "let me say something",
    "I need to interrupt you", "quiet a moment please", "okay thanks, that's all", "stop right there",
    "hang on a sec", "excuse me", "wait, wait, let me think", "okay, stop, I've heard enough",
    "sorry, can I jump in here?", "hold it right there", "one moment please", "no, wait", "hey, listen",
    "okay, let me stop you", "all right, that's plenty",
    # More ways of saying "stop", so a model must learn the act, not a few dozen strings (added after a tiny model
    # stopped for every train phrasing and for none of the test ones).
    "hold up", "whoa, slow down", "stop stop stop", "wait, one moment", "sorry, quick interruption",
    "okay, no need to go on", "can I say something?", "let me stop you right there", "sorry, I have to cut you off",
    "just stop for a sec", "hey hey, hold on", "okay thanks, I'm good", "that's all I needed", "hang on, hang on",
    "pause please", "wait a sec", "could you stop there?", "alright, stop", "okay, you can stop now",
    "no need, thanks", "hold on please", "excuse me, can I interrupt?", "sorry, one thing", "wait, let me ask you",
    "one second please", "okay, that's plenty, thanks", "hmm, wait", "stop, I get it", "yeah okay, stop there",
    "please hold on", "sorry, wait", "enough for now", "give me a second", "not now, please",
    "okay, I understand, you can stop", "hey, can you pause?", "sorry, can you stop for a moment?",
    "wait, I want to say something", "hold your horses", "okay, I'll stop you there", "that'll do, thanks",
    "stop for a moment please", "hey, one sec", "sorry, hold on a moment", "wait, wait",
)
TALKING_TO_OTHERS: tuple[str, ...] = (
    "honey, can you close the door?", "I'll be there in a minute!", "can you turn the TV down a bit?",
    "no, the blue one, on the left", "did you feed the cat already?", "thanks, just put it on the table",
    "yes, I'm almost ready", "who was at the door?", "can you pass me the salt?", "mom, I'm on the phone",
    "leave it in the kitchen please", "okay, see you later!", "wait for me downstairs", "where did you put my charger?",
    "it's in the top drawer", "don't forget your jacket", "we need more milk, by the way", "yes, come in!",
    "I'll call you back after lunch", "turn left at the next corner", "be careful, it's hot",
    "can you grab my glasses from the bedroom?", "the dog needs to go out", "just a second, I'm talking to the computer",
    "did anyone see where I left my phone?", "yes, you can have a biscuit", "please shut the window, it's cold",
    "I'm coming, I'm coming!",
)
BACKGROUND_SPEECH: tuple[str, ...] = (
    "and now the weather for the weekend, with sunny spells in the south",
    "the meeting has been moved to three o'clock on Thursday",
    "in other news, the local team won their match last night",
    "could everyone please gather in the main hall",
    "I told him the report was due on Monday, not Friday",
    "the next train to the city centre departs from platform two",
    "traffic is heavy on the main road this morning",
    "so I said to her, that's not how you make pasta",
    "the sale ends this Sunday, so don't miss out",
    "did you see the game on Saturday? unbelievable",
    "welcome back to the program, our next guest is a chef",
    "we should book the restaurant for eight people",
    "the printer on the second floor is out of paper again",
    "the flight has been delayed by about forty minutes",
    "my sister is visiting next week with the kids",
    "stocks closed slightly higher at the end of the day",
    "please remember to switch off the lights when you leave",
    "the doctor said it was nothing serious",
    "and that's why the project took two more months",
    "the new cafe down the street has great coffee",
    "it's going to rain later, so take an umbrella",
    "and the score is still one nil going into the second half",
    "has anyone seen the stapler from my desk?",
    "attention please, the store will close in fifteen minutes",
    "she said she'd be back before dinner, but who knows",
    "and here is the latest from the city council meeting",
    "no, the other file, the one from last week",
    "this programme contains scenes some viewers may find upsetting",
)


@dataclass(frozen=True)
class LongTurn:
    """A long user turn told in clauses; the gaps between clauses invite assistant backchannels."""

    clauses: tuple[str, ...]
    response: str


LONG_USER_TURNS: tuple[LongTurn, ...] = (
    LongTurn(("So yesterday I went to the hardware store,", "and I wanted to buy some paint for the kitchen,",
              "but they had like forty shades of white,", "so which one should I pick?"),
             "Go for a warm white with a slight yellow tint. Kitchens often have cool light from the windows, and a warm white keeps the room cosy instead of clinical, especially in the evening."),
    LongTurn(("I've been trying to run every morning,", "but after about a week my knees started hurting,",
              "and now I'm not sure if I should stop,", "what would you do?"),
             "I would rest for a few days and then start again more gently. Knee pain is often a sign of doing too much too soon, so shorter runs on softer ground and better shoes usually help."),
    LongTurn(("My friend is having a birthday party on Saturday,", "and I have no idea what to get her,",
              "she likes books and gardening,", "any ideas?"),
             "A nice gardening book would combine both of her interests. You could also add a packet of seeds or a small plant, which makes the present feel personal and fun to open."),
    LongTurn(("We're planning a trip to the mountains next month,", "and it's our first time hiking at altitude,",
              "so what should we bring?"),
             "Bring layers, because the weather changes quickly up there. Pack water, snacks, sun protection and a warm jacket, and plan short days at first so your body can get used to the altitude."),
    LongTurn(("I started learning the guitar last month,", "and I practise about twenty minutes a day,",
              "but my fingers really hurt,", "is that normal?"),
             "Yes, that is completely normal for beginners. Your fingertips will build calluses within a few weeks, and after that pressing the strings stops hurting. Keep the sessions short in the meantime."),
    LongTurn(("So my laptop has been getting really slow,", "especially when I open the browser,",
              "and I have maybe thirty tabs open,", "could that be the reason?"),
             "Very likely, yes. Every open tab uses memory, and thirty tabs can fill it up. Try closing the tabs you do not need or using a bookmark folder, and the laptop should feel faster."),
    LongTurn(("I'm cooking dinner for six people tonight,", "one of them is vegetarian,", "and another can't eat gluten,",
              "what could I make for everyone?"),
             "A vegetable curry with rice would work for everyone. It is naturally free of meat and gluten, easy to make in a big pot, and you can serve some grilled chicken on the side for the others."),
    LongTurn(("I want to start saving money,", "but every month it just disappears,", "and I don't know where it goes,",
              "how should I start?"),
             "Start by tracking every expense for one month. Once you see where the money goes, set up an automatic transfer to savings on payday, so you save first and spend what is left."),
    LongTurn(("My cat keeps waking me up at five in the morning,", "she walks all over my face,",
              "and I've tried ignoring her,", "but nothing works."),
             "Try feeding her later in the evening and playing with her before bed. Cats often wake people because they are hungry or bored, and an automatic feeder at five can also help a lot."),
    LongTurn(("I have a job interview on Monday,", "it's for a project manager role,", "and I've never managed a team before,",
              "how should I prepare?"),
             "Focus on times you organised work or people, even without the title. Prepare two or three short stories about planning, solving problems and communicating, and practise telling them out loud."),
    LongTurn(("We just moved into a new flat,", "and the living room is quite dark,", "there's only one small window,",
              "how can we make it brighter?"),
             "Use light colours on the walls and add a large mirror opposite the window to bounce the light around. A few warm lamps at different heights will also make the room feel brighter in the evening."),
    LongTurn(("So I've been reading about electric cars,", "and they seem great,", "but I'm worried about charging on long trips,",
              "is that a real problem?"),
             "It is less of a problem than it used to be. Fast chargers along major roads are now common, so most long trips just need one or two short stops. Planning the route in advance helps a lot."),
    LongTurn(("My tomato plants were doing fine,", "but now the leaves are turning yellow,", "starting from the bottom,",
              "what's going on?"),
             "Yellow leaves starting at the bottom usually mean the plant needs more nitrogen, or it is getting too much water. Check that the soil drains well and give the plants a balanced fertiliser."),
    LongTurn(("I'd like to learn a new language,", "I'm thinking about Spanish or Italian,", "I have about half an hour a day,",
              "which one would you choose?"),
             "Spanish would be my choice, because it is spoken in more countries and there are more learning resources. With half an hour a day you can hold simple conversations within a few months."),
    LongTurn(("Our team has a big presentation next week,", "and everybody wants to add more slides,", "it's already at fifty,",
              "how do I keep it short?"),
             "Agree on the three main messages first and cut every slide that does not support one of them. A good rule is about one slide per two minutes, and the rest can go in an appendix."),
    LongTurn(("I've been sleeping badly lately,", "I go to bed around midnight,", "but I keep waking up at three,",
              "and then I can't fall asleep again."),
             "Try keeping the same bedtime every day and avoid screens for the last hour. If you wake up and cannot sleep, get up for a while and read something calm until you feel sleepy again."),
    LongTurn(("My son wants a dog,", "but we live in an apartment,", "and we're both at work all day,",
              "is that fair on the dog?"),
             "It can be hard on a dog to be alone all day. If you do get one, choose a calm, smaller breed and arrange a dog walker or daycare, or consider a cat, which copes better alone."),
    LongTurn(("I bought a new phone last week,", "and the battery already seems worse than my old one,",
              "it barely lasts a day,", "should I return it?"),
             "Give it a few more days first. New phones often index files and sync data at the start, which drains the battery. If it is still poor after a week, ask the shop to check it."),
    LongTurn(("We want to paint our fence this weekend,", "but the forecast says it might rain on Sunday,",
              "and we only have the weekend,", "should we still do it?"),
             "Paint on Saturday if it is dry, and start early. Most outdoor paints need a few hours without rain to set, so finishing by early afternoon should be safe even if it rains on Sunday."),
    LongTurn(("I'm trying to drink less coffee,", "I'm at about five cups a day right now,", "and when I skip one I get headaches,",
              "how do I cut down?"),
             "Cut down slowly, about one cup every few days. The headaches come from caffeine withdrawal, and reducing gradually avoids most of them. Drinking more water during the day helps too."),
    LongTurn(("My grandmother is turning ninety,", "and the family wants to do something special,", "she doesn't like big parties,",
              "what could we do?"),
             "A small family lunch at her favourite place could be perfect. You could also put together a photo book with messages from everyone, which is personal and something she can look at again."),
    LongTurn(("I keep forgetting people's names,", "like right after they introduce themselves,", "it's really embarrassing,",
              "is there a trick?"),
             "Yes, repeat the name back right away, like nice to meet you, Anna. Using it once or twice in the conversation and linking it to something about the person makes it much easier to remember."),
    LongTurn(("We're thinking of getting solar panels,", "our roof faces south,", "and the electricity bills keep going up,",
              "is it worth it?"),
             "A south facing roof is ideal, so it is very likely worth it. Most systems pay for themselves within about eight to twelve years, and after that the electricity they produce is almost free."),
    LongTurn(("I'm training for my first ten kilometre race,", "it's in six weeks,", "and right now I can run about five,",
              "is that enough time?"),
             "Yes, six weeks is enough if you build up gradually. Add about ten percent to your longest run each week, keep the other runs easy, and take a lighter week just before the race."),
    LongTurn(("My daughter is starting school in September,", "and she's really nervous about it,", "she doesn't know anyone there,",
              "how can I help her?"),
             "Visit the school together before the first day and talk about what will happen. If possible, arrange a play date with a future classmate, so she already knows one friendly face."),
    LongTurn(("So my neighbour gave me a big bag of lemons,", "way more than I can use,", "what can I do with them?"),
             "Make lemonade or lemon curd, and freeze the rest. Lemon juice freezes well in ice cube trays, and you can grate the zest first and freeze that too, so nothing goes to waste."),
    LongTurn(("Okay so I'm writing a birthday card for my boss,", "and I don't know her that well,",
              "she's only been here a few months,", "and I don't want it to sound weird,", "what should I write?"),
             "Keep it short and warm. Something like, happy birthday, I hope you have a lovely day and a great year ahead, works well. It is friendly and polite without being too personal."),
    LongTurn(("I was at the supermarket this morning,", "and I noticed the eggs come in brown and white,",
              "and the brown ones cost more,", "are they actually any better?"),
             "No, not really. The shell colour just depends on the breed of the hen, and it has nothing to do with taste or nutrition. What the hen eats and how fresh the egg is matter much more."),
)

