"""Write simcse/resources/example_corpus.txt: the example corpus bundled with the package.

Every sentence is composed here, from hand-written templates and word lists over some twenty-five
topics (music, pets, cooking, sport, weather, markets, banking, accounts and passwords, customer
support, software, travel, cars, health, science, school, politics, history, arts, nature, the
environment, shopping, home, family, work, city life). No
dataset is read. The output is deterministic: the same script writes the same file, so

    python scripts/make_example_corpus.py            # rewrite the bundled corpus
    python scripts/make_example_corpus.py --check    # exit 1 if the committed file is stale

The hand-written ``ANCHORS`` come first, so the default queries of ``simcse search`` and the
examples always find their obvious neighbours.
"""
from __future__ import annotations

import argparse
import itertools
import random
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "simcse" / "resources" / "example_corpus.txt"
SEED = 20211107  # the day SimCSE was presented at EMNLP 2021
PER_TEMPLATE = 40  # at most this many sentences from one template
SIBLINGS = 2  # at most this many sentences of a template that differ in one slot only

ANCHORS = """\
A man is playing a guitar on the street.
A woman is playing the violin in a concert hall.
Two children are building a sandcastle on the beach.
The chef is slicing onions in the kitchen.
A dog is chasing a ball across the park.
A cat is sleeping on the windowsill in the sun.
To reset your password, click "Forgot password" on the login page.
You can change your account email address in the settings menu.
My card payment was declined at the supermarket.
How long does an international bank transfer take?
The stock market fell sharply after the interest rate announcement.
Shares of the technology company rose ten percent on Monday.
The central bank kept interest rates unchanged this quarter.
Heavy rain is expected across the north of the country tomorrow.
The forecast says it will be sunny and warm all weekend.
A strong earthquake shook the coastal city early this morning.
The football team won the championship after a penalty shootout.
The tennis player retired from the match with a wrist injury.
The marathon runners crossed the finish line in record time.
Scientists discovered a new species of frog in the rainforest.
The telescope captured images of a distant galaxy.
Researchers developed a vaccine that protects against several strains of flu.
Drinking water regularly helps the body stay healthy.
Regular exercise lowers the risk of heart disease.
The museum opened a new exhibition of modern paintings.
The novel tells the story of a family across three generations.
The film won the award for best director at the festival.
The train to the airport leaves every fifteen minutes.
The flight was delayed by two hours because of fog.
Traffic on the highway was slow during the morning rush hour.
The new smartphone has a larger screen and a longer battery life.
The software update fixed a bug that caused the app to crash.
Learning a programming language takes practice and patience.
The students are preparing for their final exams next week.
The teacher explained the theorem with a simple drawing.
The library extends its opening hours during the exam period.
A farmer is harvesting wheat in the golden field.
The restaurant serves fresh pasta made by hand every day.
She baked a chocolate cake for her brother's birthday.
The coffee shop on the corner sells excellent croissants.
The city council approved the plan for a new public park.
Voters went to the polls to elect a new mayor.
The government announced new measures to reduce pollution.
Solar panels on the roof produce most of the house's electricity.
The river flooded the village after days of heavy rain.
A group of hikers reached the summit of the mountain at dawn.
The ship sailed across the ocean for three weeks.
A child is riding a bicycle down a quiet street.
An old man is feeding pigeons in the square.
A musician is performing a song on the piano.
""".splitlines()

PEOPLE = ["A man", "A woman", "A young girl", "A boy", "An old man", "An elderly woman", "A teenager",
          "A student", "A street musician", "A tourist", "My neighbour", "A little boy"]
PEOPLE_PL = ["Two men", "Two women", "A group of friends", "Three children", "A couple", "Some students",
             "A family", "Several tourists"]
DAYS = ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "over the weekend",
        "yesterday", "this morning", "last night", "earlier today"]
NUMBERS = ["two", "three", "four", "five", "six", "eight", "ten", "twelve", "fifteen", "twenty"]

# Each topic: a list of (template, slots). Slots name word lists; a template is filled with every
# combination of its slot values, then at most PER_TEMPLATE of them are kept at random.
TOPICS: dict[str, list[tuple[str, dict[str, list[str]]]]] = {
    "music": [
        ("{who} is playing {instr} {place}.", {
            "who": PEOPLE,
            "instr": ["a guitar", "the violin", "the piano", "the drums", "a flute", "the cello",
                      "a trumpet", "the saxophone", "an accordion", "a harmonica"],
            "place": ["on the street", "in a concert hall", "in the park", "at a wedding", "in a small bar",
                      "on a crowded stage", "in the living room", "at the train station"]}),
        ("{who} are singing {song} {place}.", {
            "who": PEOPLE_PL,
            "song": ["a folk song", "an old love song", "the national anthem", "a lullaby", "a pop song"],
            "place": ["around the campfire", "in the church choir", "at a karaoke bar", "in the school hall",
                      "on the bus"]}),
        ("The {band} released {what} {when}.", {
            "band": ["rock band", "jazz quartet", "young pop singer", "indie group", "famous rapper",
                     "string orchestra"],
            "what": ["a new album", "its first single", "a live recording", "a music video", "a Christmas record"],
            "when": DAYS}),
        ("Tickets for the {event} sold out in {n} minutes.", {
            "event": ["summer music festival", "reunion concert", "opera premiere", "stadium tour",
                      "jazz night", "symphony's final performance"],
            "n": NUMBERS}),
        ("I have been learning to play {instr} for {n} years.", {
            "instr": ["the guitar", "the piano", "the violin", "the drums", "the trumpet", "the bass"],
            "n": NUMBERS[:6]}),
    ],
    "animals": [
        ("A {animal} is {doing} {place}.", {
            "animal": ["dog", "puppy", "cat", "kitten", "horse", "rabbit", "parrot", "goat"],
            "doing": ["running", "sleeping", "playing", "eating", "resting", "jumping"],
            "place": ["in the garden", "across the park", "on the sofa", "in the snow", "near the river",
                      "in the field", "on the porch"]}),
        ("The {animal} is chasing {thing} {place}.", {
            "animal": ["dog", "cat", "puppy", "kitten", "fox"],
            "thing": ["a ball", "a butterfly", "its tail", "a stick", "a squirrel", "a mouse"],
            "place": ["across the lawn", "in the backyard", "through the woods", "along the beach",
                      "around the kitchen"]}),
        ("{who} is walking {pet} {place}.", {
            "who": PEOPLE,
            "pet": ["a large dog", "two small dogs", "a golden retriever", "an old beagle", "a puppy"],
            "place": ["in the park", "along the river", "on the beach", "through the city", "in the rain"]}),
        ("Wild {animal} can be seen {place} {season}.", {
            "animal": ["deer", "wolves", "bears", "eagles", "dolphins", "elephants", "flamingos"],
            "place": ["near the lake", "in the national park", "along the coast", "in the mountains",
                      "on the savanna"],
            "season": ["in spring", "in early autumn", "during the dry season", "at sunrise", "in winter"]}),
        ("Our {pet} needs to go to the vet because {reason}.", {
            "pet": ["cat", "dog", "rabbit", "hamster", "parrot"],
            "reason": ["it stopped eating", "it has a cough", "it hurt its paw", "it needs a vaccination",
                       "it keeps scratching its ear"]}),
    ],
    "cooking": [
        ("The chef is {action} in the kitchen.", {
            "action": ["slicing onions", "chopping carrots", "frying eggs", "stirring a pot of soup",
                       "kneading dough", "grilling fish", "peeling potatoes", "tasting the sauce",
                       "roasting vegetables", "washing the lettuce"]}),
        ("{who} is cooking {dish} for {guest}.", {
            "who": PEOPLE,
            "dish": ["spaghetti", "a vegetable curry", "a big pot of chili", "pancakes", "roast chicken",
                     "a mushroom risotto", "fried rice", "a lentil soup"],
            "guest": ["dinner", "the whole family", "a group of friends", "breakfast", "the neighbours"]}),
        ("The restaurant {verb} {food} {when}.", {
            "verb": ["serves", "offers", "is famous for its"],
            "food": ["fresh pasta", "homemade bread", "spicy noodles", "grilled seafood", "vegan burgers",
                     "wood-fired pizza"],
            "when": ["every day", "at lunchtime", "on weekends", "until midnight"]}),
        ("Add {amount} of {ingredient} and {step}.", {
            "amount": ["a pinch", "a spoonful", "a cup", "two tablespoons", "a handful"],
            "ingredient": ["salt", "sugar", "flour", "olive oil", "grated cheese", "chopped parsley"],
            "step": ["stir well", "let it simmer for ten minutes", "mix until smooth", "bake for half an hour"]}),
        ("She baked {cake} for {occasion}.", {
            "cake": ["a chocolate cake", "an apple pie", "a batch of cookies", "banana bread", "a lemon tart"],
            "occasion": ["her brother's birthday", "the school fair", "the office party", "her grandmother",
                         "the neighbours", "a friend's wedding"]}),
        ("The coffee shop on the corner sells {item}.", {
            "item": ["excellent croissants", "strong espresso", "fresh orange juice", "vegan muffins",
                     "iced tea", "homemade cinnamon rolls", "cheap sandwiches"]}),
    ],
    "sport": [
        ("The {team} team {result} {how}.", {
            "team": ["football", "basketball", "hockey", "volleyball", "rugby", "cricket", "baseball"],
            "result": ["won the championship", "lost the final", "won the cup", "reached the semi-final"],
            "how": ["after a penalty shootout", "in extra time", "by a single point", "for the first time",
                    "in front of a home crowd"]}),
        ("The {player} {event} with {cause}.", {
            "player": ["tennis player", "goalkeeper", "striker", "team captain", "star player", "young midfielder"],
            "event": ["retired from the match", "missed the game", "left the field", "withdrew from the tournament"],
            "cause": ["a wrist injury", "a knee injury", "a sore back", "a pulled muscle", "a fever"]}),
        ("The {runners} crossed the finish line {how}.", {
            "runners": ["marathon runners", "cyclists", "swimmers", "skiers", "rowers"],
            "how": ["in record time", "side by side", "in the pouring rain", "to loud applause",
                    "after six hours"]}),
        ("{who} goes {sport} {freq}.", {
            "who": ["My sister", "My father", "Our coach", "My best friend", "The old man next door"],
            "sport": ["swimming", "running", "cycling", "skiing", "climbing", "surfing"],
            "freq": ["every morning", "twice a week", "on Sundays", "whenever the weather is good"]}),
        ("The coach said the team must {improve} before {match}.", {
            "improve": ["defend better", "score more goals", "train harder", "pass the ball faster"],
            "match": ["the next match", "the derby", "the final", "the start of the season"]}),
    ],
    "weather": [
        ("{weather} is expected {where} {when}.", {
            "weather": ["Heavy rain", "Snow", "Strong wind", "A thunderstorm", "Thick fog", "Freezing rain",
                        "Hail"],
            "where": ["across the north of the country", "in the capital", "along the coast",
                      "in the mountains", "in most regions"],
            "when": ["tomorrow", "tonight", "on Friday", "over the weekend", "later this week"]}),
        ("The forecast says it will be {what} {when}.", {
            "what": ["sunny and warm", "cold and cloudy", "dry and windy", "rainy", "hot and humid",
                     "mild with some showers"],
            "when": ["all weekend", "tomorrow", "for the rest of the week", "on Saturday", "until Tuesday"]}),
        ("Temperatures will {dir} to {n} degrees {when}.", {
            "dir": ["rise", "drop", "climb", "fall"],
            "n": ["minus five", "zero", "ten", "twenty", "thirty", "thirty-five"],
            "when": ["by the afternoon", "overnight", "at the weekend", "in the south"]}),
        ("A strong {disaster} {hit} {place} {when}.", {
            "disaster": ["earthquake", "storm", "hurricane", "typhoon"],
            "hit": ["shook", "hit", "struck", "battered"],
            "place": ["the coastal city", "the island", "the southern region", "the small fishing town"],
            "when": ["early this morning", "last night", "on Sunday", "during the night"]}),
        ("Don't forget {item}, it is going to {weather} {when}.", {
            "item": ["your umbrella", "a warm coat", "sunscreen", "your gloves"],
            "weather": ["rain", "snow", "be very hot", "be freezing"],
            "when": ["this afternoon", "later today", "tomorrow morning"]}),
    ],
    "markets": [
        ("The stock market {move} after {news}.", {
            "move": ["fell sharply", "rose slightly", "rallied", "dropped", "closed higher", "closed lower"],
            "news": ["the interest rate announcement", "the jobs report", "weak earnings",
                     "the election result", "news of the merger", "the inflation figures"]}),
        ("Shares of the {company} {move} {n} percent {when}.", {
            "company": ["technology company", "car maker", "oil producer", "airline", "bank", "retailer",
                        "chip maker"],
            "move": ["rose", "fell", "jumped", "dropped"],
            "n": NUMBERS[:7],
            "when": DAYS}),
        ("The central bank {action} {when}.", {
            "action": ["kept interest rates unchanged", "raised interest rates", "cut interest rates",
                       "warned about rising inflation", "announced new bond purchases"],
            "when": ["this quarter", "on Thursday", "for the third time this year", "in a surprise move"]}),
        ("Inflation {verb} to {n} percent in {month}.", {
            "verb": ["rose", "fell", "slowed", "climbed"],
            "n": ["two", "three", "four", "five", "seven"],
            "month": ["January", "March", "May", "July", "September", "November"]}),
        ("Investors are worried about {worry}.", {
            "worry": ["rising oil prices", "a possible recession", "the trade dispute", "high government debt",
                      "falling house prices", "the strong dollar"]}),
        ("The {company} reported {result} for {period}.", {
            "company": ["company", "bank", "software firm", "supermarket chain", "energy group"],
            "result": ["record profits", "a large loss", "higher sales", "lower revenue"],
            "period": ["the last quarter", "the first half of the year", "the full year"]}),
    ],
    "banking": [
        ("My card payment was declined {where}.", {
            "where": ["at the supermarket", "at the petrol station", "online", "at the restaurant",
                      "in the shop", "abroad", "at the pharmacy"]}),
        ("How long does {transfer} take?", {
            "transfer": ["an international bank transfer", "a transfer to another bank",
                         "a card refund", "a cheque deposit", "a wire transfer abroad",
                         "a top-up by bank transfer"]}),
        ("Why was I charged {fee} {when}?", {
            "fee": ["a fee", "twice", "an extra fee", "a currency conversion fee", "for a cash withdrawal"],
            "when": ["for my last payment", "when I paid abroad", "at the ATM", "on my statement",
                     "this month"]}),
        ("I {problem} and need {need}.", {
            "problem": ["lost my debit card", "think my card was stolen", "forgot my PIN",
                        "can't find my credit card"],
            "need": ["a new one", "to block it right away", "help as soon as possible", "to order a replacement"]}),
        ("The ATM {issue}.", {
            "issue": ["kept my card", "gave me the wrong amount of cash", "is out of order",
                      "did not give me any money", "charged me but no cash came out"]}),
        ("Can I {action} with {method}?", {
            "action": ["top up my account", "pay my rent", "send money to a friend", "pay a bill"],
            "method": ["a credit card", "a bank transfer", "my phone", "cash", "Apple Pay"]}),
    ],
    "accounts": [
        ("To reset your password, {step}.", {
            "step": ['click "Forgot password" on the login page', "open the settings and choose Security",
                     "follow the link we sent to your email", "contact the support team"]}),
        ("How do I {action}?", {
            "action": ["reset my password", "change my password", "change my email address",
                       "delete my account", "update my phone number", "turn on two-factor authentication",
                       "log out of all devices", "recover a hacked account", "change my username",
                       "download my data"]}),
        ("You can {action} in the {place}.", {
            "action": ["change your account email address", "update your password", "edit your profile",
                       "manage notifications", "cancel your subscription"],
            "place": ["settings menu", "account page", "privacy section", "mobile app"]}),
        ("I {problem}.", {
            "problem": ["forgot my password and cannot log in", "never received the verification code",
                        "am locked out of my account", "keep getting an error when I sign in",
                        "did not get the password reset email",
                        "think someone else logged into my account"]}),
        ("Your {thing} must {rule}.", {
            "thing": ["password", "new password"],
            "rule": ["contain at least twelve characters", "include a number and a symbol",
                     "be different from your last three passwords", "not contain your name"]}),
    ],
    "technology": [
        ("The new {device} has {feature}.", {
            "device": ["smartphone", "laptop", "tablet", "smartwatch", "camera", "e-reader"],
            "feature": ["a larger screen and a longer battery life", "a faster processor",
                        "a better camera", "more storage", "a lighter body", "a brighter display"]}),
        ("The software update {effect}.", {
            "effect": ["fixed a bug that caused the app to crash", "made the phone slower",
                       "added a dark mode", "improved battery life", "broke the Bluetooth connection",
                       "closed a serious security hole"]}),
        ("My {device} {problem}.", {
            "device": ["laptop", "phone", "printer", "computer", "tablet", "router"],
            "problem": ["won't turn on", "keeps restarting", "is running very slowly",
                        "can't connect to the wifi", "overheats after a few minutes", "has a cracked screen"]}),
        ("Learning {lang} takes {what}.", {
            "lang": ["a programming language", "Python", "to code", "JavaScript", "a new framework"],
            "what": ["practice and patience", "a few months", "time and curiosity", "daily practice"]}),
        ("The {who} {action} {thing}.", {
            "who": ["developers", "engineers", "programmers", "the start-up"],
            "action": ["released", "tested", "rewrote", "open-sourced", "deployed"],
            "thing": ["the new version of the app", "the search engine", "the database", "a chatbot",
                      "the website"]}),
        ("Remember to back up {what} {when}.", {
            "what": ["your files", "your photos", "the database", "your phone"],
            "when": ["before the update", "every week", "to an external drive", "in the cloud"]}),
    ],
    "travel": [
        ("The {vehicle} to {dest} leaves every {n} minutes.", {
            "vehicle": ["train", "bus", "ferry", "shuttle", "tram"],
            "dest": ["the airport", "the city centre", "the island", "the university", "the stadium"],
            "n": ["ten", "fifteen", "twenty", "thirty"]}),
        ("The flight was {what} because of {cause}.", {
            "what": ["delayed by two hours", "cancelled", "diverted to another airport", "delayed overnight"],
            "cause": ["fog", "a storm", "a technical problem", "a strike", "heavy snow", "strong winds"]}),
        ("Traffic on the {road} was {state} {when}.", {
            "road": ["highway", "ring road", "bridge", "main street", "motorway"],
            "state": ["slow", "jammed", "heavy", "light"],
            "when": ["during the morning rush hour", "after the accident", "on Friday evening",
                     "because of roadworks"]}),
        ("We are planning a trip to {place} {when}.", {
            "place": ["Italy", "Japan", "the mountains", "the seaside", "Norway", "Mexico", "Morocco",
                      "a small island"],
            "when": ["next summer", "in the spring", "for our anniversary", "during the holidays"]}),
        ("Where can I {action}?", {
            "action": ["buy a train ticket", "rent a car", "catch the airport bus", "leave my luggage",
                       "find a taxi", "get a map of the city"]}),
        ("The ship sailed {route} for {n} {unit}.", {
            "route": ["across the ocean", "along the coast", "around the islands", "up the river"],
            "n": ["three", "two", "five", "ten"],
            "unit": ["days", "weeks"]}),
        ("{who} missed the {vehicle} and had to {fix}.", {
            "who": ["A tourist", "My neighbour", "A student", "A businessman", "My sister", "Our guide"],
            "vehicle": ["last train", "bus", "ferry", "connecting flight"],
            "fix": ["take a taxi", "wait until morning", "walk home", "book a hotel room"]}),
    ],
    "health": [
        ("{habit} {benefit}.", {
            "habit": ["Drinking water regularly", "Regular exercise", "Eating vegetables", "Sleeping well",
                      "Walking every day", "A balanced diet"],
            "benefit": ["helps the body stay healthy", "lowers the risk of heart disease",
                        "improves your mood", "gives you more energy", "strengthens the immune system"]}),
        ("The doctor told {who} to {advice}.", {
            "who": ["him", "her", "my father", "the patient", "my aunt"],
            "advice": ["rest for a few days", "drink more water", "stop smoking", "take the medicine twice a day",
                       "come back next week", "eat less salt"]}),
        ("I have had {symptom} since {when}.", {
            "symptom": ["a headache", "a sore throat", "a fever", "a bad cough", "back pain",
                        "a runny nose"],
            "when": ["yesterday", "Monday", "last week", "this morning"]}),
        ("The hospital {news}.", {
            "news": ["opened a new children's ward", "is looking for more nurses",
                     "reduced waiting times for surgery", "received new scanning equipment",
                     "asked visitors to wear masks"]}),
        ("{who} should {advice} during {season}.", {
            "who": ["Older people", "Young children", "Everyone", "People with asthma"],
            "advice": ["get a flu shot", "stay indoors on smoggy days", "drink plenty of water",
                       "wash their hands often"],
            "season": ["the winter", "a heatwave", "flu season"]}),
    ],
    "science": [
        ("Scientists discovered {what} in {where}.", {
            "what": ["a new species of frog", "a new kind of beetle", "fossils of an ancient whale",
                     "a rare orchid", "bacteria that eat plastic", "ice"],
            "where": ["the rainforest", "the deep sea", "a cave", "the desert", "Antarctica",
                      "an old mine"]}),
        ("The telescope captured images of {obj}.", {
            "obj": ["a distant galaxy", "a dying star", "Saturn's rings", "a comet", "a black hole",
                    "a cloud of cosmic dust"]}),
        ("Researchers developed {thing} that {does}.", {
            "thing": ["a vaccine", "a new drug", "a blood test", "a battery", "a material", "a robot"],
            "does": ["protects against several strains of flu", "detects cancer early",
                     "charges in five minutes", "repairs itself", "can climb walls",
                     "works at very low temperatures"]}),
        ("The {mission} {event} {when}.", {
            "mission": ["space probe", "rover", "satellite", "crewed capsule"],
            "event": ["landed on Mars", "reached the moon", "sent back its first pictures",
                      "returned safely to Earth", "was launched"],
            "when": DAYS}),
        ("A study found that {finding}.", {
            "finding": ["people who sleep more live longer", "bees can recognise faces",
                        "the oceans are warming faster than expected", "children learn languages easily",
                        "coffee may protect the liver", "city trees lower summer temperatures"]}),
    ],
    "education": [
        ("The students are {action} {when}.", {
            "action": ["preparing for their final exams", "writing their essays", "studying in the library",
                       "presenting their projects", "taking a maths test"],
            "when": ["next week", "this afternoon", "before the holidays", "all night"]}),
        ("The teacher explained {topic} with {aid}.", {
            "topic": ["the theorem", "photosynthesis", "the French Revolution", "fractions",
                      "the water cycle", "gravity"],
            "aid": ["a simple drawing", "a short video", "a real experiment", "a funny story",
                    "coloured blocks"]}),
        ("The library {change} during {period}.", {
            "change": ["extends its opening hours", "is closed", "offers free study rooms", "gets very crowded"],
            "period": ["the exam period", "the summer", "the holidays", "the renovation"]}),
        ("{who} got {result} in {subject}.", {
            "who": ["My daughter", "My son", "The whole class", "Anna", "Tom"],
            "result": ["top marks", "a bad grade", "an award", "a scholarship"],
            "subject": ["chemistry", "history", "mathematics", "English", "biology", "art"]}),
        ("The university {action}.", {
            "action": ["raised its tuition fees", "opened a new campus", "offers online courses",
                       "cancelled lectures because of the strike", "welcomed a record number of students"]}),
    ],
    "politics": [
        ("The city council approved the plan for {what}.", {
            "what": ["a new public park", "more bicycle lanes", "a new bridge", "affordable housing",
                     "a larger hospital", "a ban on cars in the old town"]}),
        ("Voters went to the polls to elect {whom}.", {
            "whom": ["a new mayor", "a new president", "the parliament", "a new governor",
                     "the city council"]}),
        ("The government announced new measures to {goal}.", {
            "goal": ["reduce pollution", "fight inflation", "create jobs", "support farmers",
                     "cut energy bills", "improve public transport"]}),
        ("The {who} {action} {when}.", {
            "who": ["prime minister", "president", "opposition leader", "finance minister", "mayor"],
            "action": ["resigned", "gave a speech", "visited the flooded region", "met foreign leaders",
                       "promised lower taxes"],
            "when": DAYS}),
        ("Thousands of people protested against {what} {where}.", {
            "what": ["the new law", "rising rents", "the tax increase", "the closing of the factory",
                     "the war"],
            "where": ["in the capital", "outside parliament", "in several cities", "on Saturday"]}),
    ],
    "arts": [
        ("The museum opened {what}.", {
            "what": ["a new exhibition of modern paintings", "a gallery of ancient sculptures",
                     "a show about photography", "a room for children", "an exhibition of Japanese prints"]}),
        ("The novel tells the story of {story}.", {
            "story": ["a family across three generations", "a girl who runs away from home",
                      "two brothers at war", "a detective in Paris", "a lonely astronaut",
                      "a village during a long winter"]}),
        ("The film won the award for {award} at the festival.", {
            "award": ["best director", "best actress", "best picture", "best screenplay", "best music"]}),
        ("{who} is {action} {where}.", {
            "who": PEOPLE,
            "action": ["painting a portrait", "reading a book", "taking photographs", "drawing a sketch",
                       "writing a poem"],
            "where": ["in the park", "by the window", "at a cafe", "on the train", "in the studio"]}),
        ("The theatre is showing {play} {when}.", {
            "play": ["a new comedy", "Shakespeare's Hamlet", "a musical", "an opera", "a puppet show"],
            "when": ["this month", "every evening", "until Christmas", "on Saturdays"]}),
    ],
    "nature": [
        ("A farmer is {action} in {where}.", {
            "action": ["harvesting wheat", "planting potatoes", "milking cows", "feeding the chickens",
                       "picking apples"],
            "where": ["the golden field", "the orchard", "the barn", "the early morning", "the rain"]}),
        ("A group of hikers {action} {when}.", {
            "action": ["reached the summit of the mountain", "got lost in the forest",
                       "crossed the glacier", "set up camp by the lake", "walked along the cliffs"],
            "when": ["at dawn", "before the storm", "in the afternoon", "after a long climb"]}),
        ("The river flooded {what} after {cause}.", {
            "what": ["the village", "the fields", "the main road", "several houses"],
            "cause": ["days of heavy rain", "the snow melted", "the storm", "a week of rain"]}),
        ("Two children are {action} on the beach.", {
            "action": ["building a sandcastle", "collecting shells", "flying a kite", "playing with a ball",
                       "running into the waves", "looking for crabs"]}),
        ("The {tree} in {place} {change} {season}.", {
            "tree": ["trees", "leaves", "flowers", "cherry trees"],
            "place": ["the park", "our garden", "the valley", "the old town"],
            "change": ["turn red", "bloom", "fall", "turn yellow"],
            "season": ["in autumn", "in spring", "every April", "after the first frost"]}),
        ("Solar panels on {where} produce {amount} of the {whose} electricity.", {
            "where": ["the roof", "the school", "the farm", "the factory"],
            "amount": ["most", "half", "all", "a third"],
            "whose": ["house's", "building's", "village's"]}),
    ],
    "shopping": [
        ("{who} is buying {what} at the {shop}.", {
            "who": PEOPLE,
            "what": ["fresh bread", "a new pair of shoes", "vegetables", "a birthday present", "milk and eggs",
                     "a winter jacket"],
            "shop": ["market", "supermarket", "bakery", "shopping centre", "corner shop"]}),
        ("Can I return {item} if {cond}?", {
            "item": ["these shoes", "the jacket", "a gift", "the headphones", "an item I bought online"],
            "cond": ["it doesn't fit", "I lost the receipt", "it is broken", "I changed my mind"]}),
        ("My order {problem}.", {
            "problem": ["has not arrived yet", "arrived damaged", "is missing one item",
                        "was sent to the wrong address", "was charged twice"]}),
        ("The shop is having a sale {what} {when}.", {
            "what": ["on winter clothes", "on all electronics", "on garden furniture", "on books"],
            "when": ["this weekend", "until Sunday", "after Christmas", "all month"]}),
    ],
    "home": [
        ("A cat is sleeping {where} {detail}.", {
            "where": ["on the windowsill", "on the bed", "under the table", "on a pile of clothes",
                      "in a cardboard box"],
            "detail": ["in the sun", "all afternoon", "next to the heater", "while the children play"]}),
        ("{who} {action} {when}.", {
            "who": ["We", "My parents", "Our neighbours", "My flatmate and I"],
            "action": ["painted the living room", "moved into a new flat", "cleaned the whole house",
                       "fixed the leaking tap", "planted tomatoes in the garden"],
            "when": ["last weekend", "yesterday", "in the summer", "this morning"]}),
        ("The {thing} in the {room} is {problem}.", {
            "thing": ["heater", "light", "window", "fridge", "washing machine", "sink"],
            "room": ["kitchen", "bathroom", "bedroom", "hallway"],
            "problem": ["broken", "making a strange noise", "leaking", "not working"]}),
        ("{who} is {action} for the family.", {
            "who": ["My mother", "Grandpa", "My older brother", "Dad"],
            "action": ["making breakfast", "doing the laundry", "setting the table", "washing the dishes",
                       "decorating the Christmas tree"]}),
    ],
    "work": [
        ("The {team} meeting was {change} to {when}.", {
            "team": ["team", "project", "weekly", "budget"],
            "change": ["moved", "postponed", "rescheduled"],
            "when": ["Monday morning", "next week", "three o'clock", "Thursday afternoon"]}),
        ("{who} {event} {when}.", {
            "who": ["My colleague", "Our manager", "The new intern", "My boss"],
            "event": ["got promoted", "quit the job", "started working from home", "went on parental leave"],
            "when": ["last month", "this week", "in January", "yesterday"]}),
        ("The company is hiring {role} {where}.", {
            "role": ["software engineers", "nurses", "drivers", "sales staff", "teachers", "designers"],
            "where": ["in Berlin", "for the new office", "for the summer", "across the country"]}),
        ("I need to finish {task} before {deadline}.", {
            "task": ["the report", "this presentation", "the budget plan", "my tax return", "the slides"],
            "deadline": ["Friday", "the end of the day", "the meeting", "tomorrow morning"]}),
        ("The factory {event} {n} workers {when}.", {
            "event": ["laid off", "hired", "trained"],
            "n": ["fifty", "a hundred", "two hundred", "five hundred"],
            "when": ["this year", "last month", "after the merger"]}),
    ],
    "cars": [
        ("My car {problem} {when}.", {
            "problem": ["won't start", "makes a rattling noise", "has a flat tyre", "broke down on the motorway",
                        "needs new brakes", "failed its inspection"],
            "when": ["this morning", "again", "on the way to work", "after the cold night", "last week"]}),
        ("{who} bought {car} because {reason}.", {
            "who": ["My uncle", "Our neighbours", "My sister", "The taxi driver", "A friend of mine"],
            "car": ["an electric car", "a second-hand van", "a small hatchback", "a family estate car",
                    "a vintage convertible"],
            "reason": ["petrol is so expensive", "their old one was too small", "it was on sale",
                       "they commute every day", "it is cheap to insure"]}),
        ("Where is the nearest {place} {extra}?", {
            "place": ["petrol station", "charging point", "car park", "garage", "car wash"],
            "extra": ["from here", "on this road", "that is open at night", "near the station"]}),
        ("The police stopped {who} for {offence} {where}.", {
            "who": ["a driver", "a young motorcyclist", "a lorry driver", "a cyclist"],
            "offence": ["speeding", "running a red light", "using a phone while driving", "driving without lights"],
            "where": ["near the school", "on the motorway", "in the city centre", "at the border"]}),
    ],
    "environment": [
        ("The town {action} to {goal}.", {
            "action": ["planted a thousand trees", "banned plastic bags", "built a wind farm",
                       "opened a recycling centre", "closed the coal plant"],
            "goal": ["fight climate change", "cut emissions", "clean up the air", "protect the river",
                     "save energy"]}),
        ("Volunteers collected {what} from {where} {when}.", {
            "what": ["plastic bottles", "tonnes of rubbish", "old fishing nets", "litter"],
            "where": ["the beach", "the river banks", "the forest", "the city parks"],
            "when": ["on Saturday", "last weekend", "during the clean-up day", "in a single morning"]}),
        ("{fact} is {trend} {cause}.", {
            "fact": ["The glacier", "Sea ice in the Arctic", "The lake", "The coral reef"],
            "trend": ["shrinking", "disappearing", "drying up", "getting smaller"],
            "cause": ["because of rising temperatures", "every summer", "faster than ever",
                      "as the climate warms"]}),
        ("We can save energy by {habit}.", {
            "habit": ["turning off the lights", "taking shorter showers", "insulating the roof",
                      "washing clothes at lower temperatures", "cycling instead of driving",
                      "unplugging chargers"]}),
    ],
    "history": [
        ("The {building} was built {when}.", {
            "building": ["castle", "cathedral", "old bridge", "town hall", "lighthouse", "palace"],
            "when": ["in the twelfth century", "by the Romans", "more than five hundred years ago",
                     "after the great fire", "in 1850"]}),
        ("Archaeologists found {what} near {where}.", {
            "what": ["ancient coins", "a Roman road", "a Viking ship", "pottery from the Bronze Age",
                     "the ruins of a temple", "a medieval sword"],
            "where": ["the old harbour", "a farm", "the river", "the motorway construction site", "the village"]}),
        ("The {war} ended in {year}.", {
            "war": ["war", "civil war", "long siege", "occupation"],
            "year": ["1918", "1945", "1865", "1648", "1815"]}),
        ("{who} wrote a book about {topic}.", {
            "who": ["A historian", "My grandfather", "A famous journalist", "The professor"],
            "topic": ["the history of the city", "life during the war", "the industrial revolution",
                      "ancient Egypt", "the first moon landing"]}),
    ],
    "family": [
        ("{who} {event} {when}.", {
            "who": ["My sister", "My best friend", "Our cousin", "My brother", "My colleague's daughter"],
            "event": ["got married", "had a baby", "moved abroad", "graduated from university",
                      "celebrated her fortieth birthday"],
            "when": ["last summer", "in June", "this spring", "two weeks ago"]}),
        ("The grandparents {action} {when}.", {
            "action": ["are visiting us", "looked after the kids", "celebrated their golden wedding",
                       "told stories about the old days", "cooked a huge lunch"],
            "when": ["this weekend", "on Sunday", "for the holidays", "every summer"]}),
        ("The children are {action} {where}.", {
            "action": ["playing hide and seek", "doing their homework", "watching cartoons",
                       "building a den", "drawing pictures"],
            "where": ["in the garden", "in their room", "at their grandmother's house", "after school",
                      "in the living room"]}),
        ("We are having {event} for {whom}.", {
            "event": ["a surprise party", "a barbecue", "a small dinner", "a picnic"],
            "whom": ["my mother's birthday", "our new neighbours", "the whole family", "my brother's graduation"]}),
    ],
    "support": [
        ("I would like to {action}.", {
            "action": ["cancel my subscription", "speak to a manager", "change my delivery address",
                       "get a refund", "upgrade my plan", "report a problem with the app",
                       "close my account", "update my billing details"]}),
        ("The {channel} {status}.", {
            "channel": ["customer service line", "support chat", "help desk", "call centre"],
            "status": ["is open from nine to five", "is closed on Sundays", "answered within a minute",
                       "kept me waiting for an hour"]}),
        ("Is there a fee for {what}?", {
            "what": ["cancelling early", "paying by card", "changing my booking", "express delivery",
                     "a paper statement", "withdrawing cash abroad"]}),
    ],
    "city": [
        ("An old man is {action} in the square.", {
            "action": ["feeding pigeons", "reading a newspaper", "playing chess", "selling flowers",
                       "sitting on a bench"]}),
        ("A child is {action} down a quiet street.", {
            "action": ["riding a bicycle", "walking a dog", "pulling a small wagon", "skateboarding",
                       "running"]}),
        ("The {place} {news}.", {
            "place": ["new shopping mall", "old cinema", "public swimming pool", "central station",
                      "city library"],
            "news": ["will open next month", "closed after fifty years", "is being renovated",
                     "was packed on Saturday"]}),
        ("The streets are {state} {when}.", {
            "state": ["crowded", "empty", "covered in snow", "decorated with lights", "flooded"],
            "when": ["during the festival", "early on Sunday morning", "after the storm",
                     "before Christmas", "at night"]}),
        ("Rents in the city centre {move} {how}.", {
            "move": ["rose", "fell", "doubled"],
            "how": ["last year", "over the past decade", "again this spring"]}),
    ],
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: dict[str, str]) -> str:
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    return text[0].upper() + text[1:]


def _diverse(combos: list[tuple[str, ...]], limit: int, siblings: int = SIBLINGS) -> list[tuple[str, ...]]:
    """Up to ``limit`` combinations such that at most ``siblings`` of them agree on all slots but one
    (no long runs of sentences that differ by a single word); one-slot templates keep every value."""
    kept: list[tuple[str, ...]] = []
    count: dict[tuple[int, tuple[str, ...]], int] = {}
    for c in combos:
        keys = [(i, c[:i] + c[i + 1:]) for i in range(len(c))] if len(c) > 1 else []  # one slot: keep all
        if all(count.get(k, 0) < siblings for k in keys):
            kept.append(c)
            for k in keys:
                count[k] = count.get(k, 0) + 1
            if len(kept) == limit:
                break
    return kept


def generate(seed: int = SEED, per_template: int = PER_TEMPLATE) -> list[str]:
    """The corpus: the anchors, then sentences composed from each topic's templates (no duplicates)."""
    rng = random.Random(seed)
    out: list[str] = []
    seen: set[str] = set()

    def keep(s: str) -> None:
        if s not in seen:
            seen.add(s)
            out.append(s)

    for s in ANCHORS:
        keep(s.strip())
    composed: list[str] = []
    for topic in sorted(TOPICS):
        for template, slots in TOPICS[topic]:
            names = _PLACEHOLDER.findall(template)
            missing = [n for n in names if n not in slots]
            if missing:
                raise KeyError(f"topic {topic!r}, template {template!r}: no word list for {missing}")
            combos = list(itertools.product(*(slots[n] for n in names)))
            rng.shuffle(combos)
            composed.extend(_fill(template, dict(zip(names, c))) for c in _diverse(combos, per_template))
    rng.shuffle(composed)
    for s in composed:
        keep(s)
    return out


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the bundled corpus."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default=str(OUT), help="where to write (default: the bundled corpus)")
    p.add_argument("--check", action="store_true", help="exit 1 if --output differs from what would be written")
    args = p.parse_args(argv)
    text = "\n".join(generate()) + "\n"
    path = Path(args.output)
    if args.check:
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        print(f"{path}: {'up to date' if same else 'STALE - rerun scripts/make_example_corpus.py'}")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10))} sentences to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
