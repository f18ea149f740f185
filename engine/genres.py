"""Names of music genres, lower case: beside one, a bare number in the tempo range is how people type a tempo
("techno 128", "cumbia 95", "a 170 drum and bass roller"; engine/prompt_words.py).

Broad on purpose (a genre missing here only means its bare tempo is left to the words reader); each name is a
genre and nothing else, so words that are also common nouns or band names ("metal" is, "room" alone is not) stand
here only where a number beside them would be a tempo anyway. Not "swing" alone: "swing 55" is a drum machine's swing
amount.
"""

from __future__ import annotations

GENRE_NAMES: tuple[str, ...] = (
    # electronic
    "techno", "minimal techno", "industrial techno", "acid", "acid techno", "dub techno", "detroit techno",
    "hard techno",
    "house", "deep house", "tech house", "acid house", "progressive house", "afro house", "soulful house",
    "chicago house", "french house", "electro house", "future house", "tropical house", "big room", "lo-fi house",
    "trance", "psytrance", "psy trance", "goa trance", "uplifting trance", "progressive trance", "hard trance",
    "drum and bass", "drum & bass", "drum'n'bass", "drum n bass", "dnb", "d&b", "liquid dnb", "liquid drum and bass",
    "neurofunk", "jungle", "breakbeat", "breaks", "big beat", "breakcore", "dubstep", "brostep", "riddim",
    "uk garage", "garage", "2-step", "speed garage", "grime", "uk funky", "bassline", "footwork", "juke",
    "jersey club", "baltimore club", "electro", "electroclash", "electro swing", "synthwave", "retrowave",
    "outrun", "darksynth", "vaporwave", "chillwave", "future bass", "trap", "edm", "eurodance", "hi-nrg",
    "italo disco", "hardstyle", "hardcore", "happy hardcore", "gabber", "moombahton", "idm", "glitch",
    "glitch hop", "downtempo", "trip hop", "trip-hop", "chillout", "ambient", "ambient techno", "dark ambient",
    "drone", "industrial", "ebm", "amapiano", "gqom", "kuduro", "baile funk", "phonk", "drift phonk", "hyperpop",
    "chiptune", "8-bit", "lo-fi", "lofi", "lo-fi hip hop", "lofi hip hop",
    # hip hop and r&b
    "hip hop", "hip-hop", "boom bap", "rap", "drill", "uk drill", "trap soul", "r&b", "rnb", "neo soul",
    "neo-soul", "soul", "motown", "gospel", "new jack swing", "g-funk", "crunk", "cloud rap",
    # pop and rock
    "pop", "synth pop", "synth-pop", "synthpop", "electropop", "dance pop", "k-pop", "j-pop", "city pop",
    "indie pop", "dream pop", "rock", "indie rock", "indie", "alt rock", "garage rock", "punk", "pop punk",
    "post-punk", "post punk", "hardcore punk", "emo", "grunge", "shoegaze", "post-rock", "post rock", "krautrock",
    "prog rock", "psychedelic rock", "surf rock", "rockabilly", "metal", "heavy metal", "thrash metal",
    "death metal", "black metal", "doom metal", "metalcore", "djent", "stoner rock", "hard rock", "britpop",
    "new wave", "disco", "nu-disco", "nu disco", "funk", "p-funk",
    # jazz, blues, folk, country
    "jazz", "smooth jazz", "acid jazz", "jazz fusion", "fusion", "bebop", "hard bop", "cool jazz", "swing jazz",
    "big band", "ragtime", "dixieland", "blues", "delta blues", "chicago blues", "boogie", "boogie-woogie",
    "folk", "indie folk", "folk rock", "country", "bluegrass", "americana", "honky tonk", "western swing",
    "celtic", "sea shanty", "polka",
    # latin, african, caribbean
    "reggae", "roots reggae", "dub", "dancehall", "ska", "rocksteady", "reggaeton", "dembow", "cumbia", "salsa",
    "bachata", "merengue", "bossa nova", "bossa", "samba", "tango", "mambo", "cha cha", "rumba", "son cubano",
    "flamenco", "kizomba", "zouk", "afrobeat", "afrobeats", "highlife", "soca", "calypso", "forro",
    # classical and others
    "waltz", "march", "classical", "baroque", "chamber", "orchestral", "cinematic", "chorale", "lullaby",
    "ballad", "bolero", "minuet", "polonaise", "foxtrot", "quickstep", "jive", "lindy hop", "charleston",
    "new age", "exotica", "easy listening",
)
